// backproject.cu: voxel-driven FDK back-projection with hardware bilinear
// interpolation, several views and energy bins per launch.
//
// Geometry
//
// Every view reduces to one 3x4 matrix M that maps the homogeneous index
// (x, y, z, 1) of a voxel of the current z-slab to (s*w, t*w, w):
//
//      source                          detector band, one texture layer
//        *  .                         +-----------------------------+
//            \    .                   |     rows row0 .. row0+H-1   |
//             \       . voxel         |                             |
//              \         o -----------|--> (s, t)                   |
//               \                     |                             |
//                \                    +-----------------------------+
//
// s and t are texel coordinates of the staged band of detector rows:
// s = u + 0.5 and t = v - row0 + 0.5 for the pixel (u, v) the ray through
// the voxel's centre hits, because texels are addressed at their centres.
// w is the depth along the principal axis normalised to 1 at the isocentre,
// so the FDK distance weight is 1/w^2. The host (texelMatrix in plan.go)
// folds the voxel grid, the slab's first plane, the band's first row and
// the half texel into M, so a voxel costs three FMAs, a reciprocal and one
// texture fetch per bin.
//
// Interpolation
//
// The texture filters linearly and reads zero outside the band (border
// addressing, border colour 0). A fetch at (s, t) is the bilinear
// interpolation of the four pixels around (u, v) with zeros beyond the
// detector's edge: what the CPU back-projector computes on its images
// padded with one zero pixel. The texture unit keeps 8 fractional bits of
// the interpolation weights (CUDA C Programming Guide, "Linear Filtering"),
// so a fetch differs from the CPU's by at most 1/512 of the difference
// between neighbouring pixels; the parity test's tolerance allows for it.
// Voxels behind the source (w <= 0) get 1/w = 0 and add nothing, as on the
// CPU.
//
// Work split
//
// A thread owns VPT voxels along z at one (x, y) and keeps
// their sums for every bin in registers while it walks the launch's views:
// the volume is read and written once per launch instead of once per view.
// The 32 threads of a warp take consecutive x, so those reads and writes
// coalesce and neighbouring threads fetch neighbouring texels. The first
// launch of a slab stores its sums instead of adding them, so no memset is
// needed and a voxel no launch reaches keeps whatever was there (the tests
// fill slabs with NaN to catch that).
//
// Launch shape
//
// The shape is chosen at run time (kernels.LaunchShape): views per launch
// (up to MAX_PROJ_PER_LAUNCH, the matrices' room in constant memory),
// voxels per thread along z (one kernel per value, VPT below), and the
// block's x and y extent (blockDim; at most MAX_THREADS threads, the
// launch bound the registers are allocated for). Chosen values, from
// bench/cuda_test.go's BenchmarkCUDATune on an NVIDIA H200 (132 SMs,
// driver 580.159.04, CUDA 13.0, this PTX JIT-compiled from compute_80),
// RabbitCT 512³ from 496 views of 1248 x 960: 32 views per launch, 8 voxels
// per thread, blocks of 32 x 8. Every shape with 32 views, 8 voxels and 256
// threads ran within 0.2 % of 752 GUPS; 4 or 16 voxels, 16 or 64 views and
// 16 x 16 blocks up to 12 % slower. The texture units bound the kernel:
// bench/texrate.cu measured 993 G bilinear fetches/s on that GPU, so 752
// GUPS is 76 % of that floor for 512³ and 952 GUPS (1024³) 96 %.
// Interleaving bins as texel channels does not help several bins: 2, 4
// channels gave 1147, 992 G channel values/s (bench/RESULTS.md).

#define MAX_PROJ_PER_LAUNCH 64 // views whose matrices one launch can hold
#define MATRIX_SLOTS 2         // one matrix set per upload buffer (double buffering)
#define MAX_BINS 4             // bins summed in one pass; more are split into passes
#define MAX_THREADS 256        // threads per block, at most

// viewMatrix[slot][view][row]: the rows of M. The upload stream writes one
// slot while launches on the compute stream read the other.
__constant__ float4 viewMatrix[MATRIX_SLOTS * MAX_PROJ_PER_LAUNCH * 3];

template <int BINS, int VPT>
__device__ __forceinline__ void backproject(float *vol, long long binStride, cudaTextureObject_t tex,
                                            int slot, int views, int layersPerView, int firstLayer,
                                            int nx, int ny, int nz, int accumulate)
{
	const int x = blockIdx.x * blockDim.x + threadIdx.x;
	const int y = blockIdx.y * blockDim.y + threadIdx.y;
	const int z0 = blockIdx.z * VPT;
	if (x >= nx || y >= ny)
		return;

	float sum[VPT][BINS];
#pragma unroll
	for (int k = 0; k < VPT; k++)
#pragma unroll
		for (int b = 0; b < BINS; b++)
			sum[k][b] = 0.f;

	const float fx = x, fy = y;
	const float4 *m = viewMatrix + slot * MAX_PROJ_PER_LAUNCH * 3;
	for (int i = 0; i < views; i++, m += 3) {
		// The column of voxels shares x and y: only the z terms change.
		const float s0 = fmaf(m[0].x, fx, fmaf(m[0].y, fy, m[0].w));
		const float t0 = fmaf(m[1].x, fx, fmaf(m[1].y, fy, m[1].w));
		const float w0 = fmaf(m[2].x, fx, fmaf(m[2].y, fy, m[2].w));
		const int layer = i * layersPerView + firstLayer;
#pragma unroll
		for (int k = 0; k < VPT; k++) {
			const float fz = (float)(z0 + k);
			const float w = fmaf(m[2].z, fz, w0);
			// The fetch's 8-bit weights dominate the error: the fast
			// reciprocal costs nothing in accuracy.
			const float iw = w > 0.f ? __fdividef(1.f, w) : 0.f;
			const float s = fmaf(m[0].z, fz, s0) * iw;
			const float t = fmaf(m[1].z, fz, t0) * iw;
			const float iw2 = iw * iw;
#pragma unroll
			for (int b = 0; b < BINS; b++)
				sum[k][b] = fmaf(iw2, tex2DLayered<float>(tex, s, t, layer + b), sum[k][b]);
		}
	}

	const long long plane = (long long)nx * ny;
	float *p = vol + (long long)z0 * plane + (long long)y * nx + x;
#pragma unroll
	for (int k = 0; k < VPT; k++) {
		if (z0 + k >= nz)
			break;
#pragma unroll
		for (int b = 0; b < BINS; b++) {
			float *q = p + k * plane + b * binStride;
			*q = accumulate ? *q + sum[k][b] : sum[k][b];
		}
	}
}

// backproject_bB_zV sums views [0, views) of matrix slot `slot` into the
// slab volumes of B consecutive energy bins, the first at vol and each next
// binStride floats further, V voxels along z per thread. View i's bin b is
// texture layer i*layersPerView + firstLayer + b. The launch grid is
// (ceil(nx/blockDim.x), ceil(ny/blockDim.y), ceil(nz/V)) blocks of at most
// MAX_THREADS threads. The launch bound asks for two resident blocks per
// multiprocessor (at most 128 registers) for 4 and 8 voxels per thread and
// one for 16: left to itself, ptxas caps some instances at 80 registers
// and spills their sums to local memory.
#define BACKPROJECT_KERNEL(B, V)                                                                       \
	extern "C" __global__ void __launch_bounds__(MAX_THREADS, V < 16 ? 2 : 1)                      \
	    backproject_b##B##_z##V(float *vol, long long binStride, cudaTextureObject_t tex, int slot, \
	                            int views, int layersPerView, int firstLayer, int nx, int ny, int nz, \
	                            int accumulate)                                                    \
	{                                                                                              \
		backproject<B, V>(vol, binStride, tex, slot, views, layersPerView, firstLayer, nx, ny, nz, \
		                  accumulate);                                                         \
	}

#define BACKPROJECT_BINS(V)      \
	BACKPROJECT_KERNEL(1, V) \
	BACKPROJECT_KERNEL(2, V) \
	BACKPROJECT_KERNEL(3, V) \
	BACKPROJECT_KERNEL(4, V)

BACKPROJECT_BINS(4)
BACKPROJECT_BINS(8)
BACKPROJECT_BINS(16)
