// filter.cu: FDK pre-weighting and row-wise ramp filtering on the GPU.
//
// Geometry
//
// Each image row is weighted and convolved with the ramp filter's spatial
// kernel h, which the host derives from the CPU filter (rampTaps in
// prefilter.go) so that both give the same result:
//
//   out[i] = sum_j  in[j] * pix[row0 + r][j] * col[view][j] * h[i - padLeft - j]
//
// in is a raw row of inCols pixels, out a filtered row of outCols pixels:
// a displaced detector is widened by padLeft zero columns on the left (and
// more on the right) so that the filtered projection's tail is kept. pix is
// the per-pixel weight image shared by the views (cosine weights), col the
// per-view column weights (angular share times Parker or Wang weights). h
// has 2*outCols - 1 taps, h[d] stored at taps[d + outCols - 1]: as long as
// the CPU filter's FFT is zero-padded to at least twice the row, its
// circular convolution equals this linear one, so no cuFFT is needed.
//
// Work split
//
// A block computes FILTER_TILE consecutive outputs of FILTER_ROWS rows. It
// walks the input row in chunks of FILTER_TILE: each chunk of the weighted
// rows and the 2*FILTER_TILE - 1 taps that chunk meets are staged in shared
// memory, then every thread accumulates its output column for all the
// block's rows. Each tap read from shared memory serves FILTER_ROWS rows,
// and the inputs are read as float4 broadcasts, so a multiply-add costs
// about 0.4 shared-memory loads.
//
// Launch shape
//
// FILTER_TILE and FILTER_ROWS are template parameters, one kernel per pair
// (rampFilter_tT_rR below), chosen at run time (kernels.LaunchShape).
// Chosen: 256 outputs by 16 rows, from bench/cuda_test.go's
// BenchmarkCUDATune on an NVIDIA H200 (driver 580.159.04, CUDA 13.0):
// 63.5 ms for RabbitCT's 496 views of 1248 x 960 against 70.9 ms for 128 x 8
// and 91.7 ms for 64 x 4.

// rampFilter filters lines = images*rows rows, image-major (image i is view
// i/bins, bin i%bins). Launch grid: (ceil(outCols/FILTER_TILE),
// ceil(images*rows/FILTER_ROWS)) blocks of FILTER_TILE threads.
template <int FILTER_TILE, int FILTER_ROWS>
__device__ __forceinline__ void rampFilter(float *out, const float *in, const float *pix, const float *col,
                                           const float *taps, int inCols, int outCols, int rows, int images,
                                           int bins, int padLeft, int row0)
{
	__shared__ float4 chunk[FILTER_ROWS][FILTER_TILE / 4];
	__shared__ float tap[2 * FILTER_TILE];

	const int tid = threadIdx.x;
	const int i0 = blockIdx.x * FILTER_TILE;
	const int line0 = blockIdx.y * FILTER_ROWS;
	const int lines = images * rows;
	float *flat = (float *)chunk;

	float acc[FILTER_ROWS];
#pragma unroll
	for (int r = 0; r < FILTER_ROWS; r++)
		acc[r] = 0.f;

	for (int j0 = 0; j0 < inCols; j0 += FILTER_TILE) {
		const int j = j0 + tid;
#pragma unroll
		for (int r = 0; r < FILTER_ROWS; r++) {
			const int line = line0 + r;
			float v = 0.f;
			if (line < lines && j < inCols) {
				const int img = line / rows, row = line % rows;
				v = in[(long long)line * inCols + j] * pix[(long long)(row0 + row) * inCols + j] *
				    col[(long long)(img / bins) * inCols + j];
			}
			flat[r * FILTER_TILE + tid] = v;
		}
		// Output i0+tid meets input j0+jj through tap d = i0 - padLeft - j0 + tid - jj,
		// staged at tap[FILTER_TILE - 1 + tid - jj].
		const int dBase = i0 - padLeft - j0 - (FILTER_TILE - 1);
		for (int q = tid; q < 2 * FILTER_TILE - 1; q += FILTER_TILE) {
			const int d = dBase + q;
			tap[q] = (d > -outCols && d < outCols) ? taps[d + outCols - 1] : 0.f;
		}
		__syncthreads();
		for (int jj = 0; jj < FILTER_TILE; jj += 4) {
			const float *h = tap + FILTER_TILE - 1 + tid - jj;
			const float h0 = h[0], h1 = h[-1], h2 = h[-2], h3 = h[-3];
#pragma unroll
			for (int r = 0; r < FILTER_ROWS; r++) {
				const float4 v = chunk[r][jj / 4];
				acc[r] = fmaf(v.x, h0, fmaf(v.y, h1, fmaf(v.z, h2, fmaf(v.w, h3, acc[r]))));
			}
		}
		__syncthreads();
	}

	const int i = i0 + tid;
	if (i >= outCols)
		return;
#pragma unroll
	for (int r = 0; r < FILTER_ROWS; r++)
		if (line0 + r < lines)
			out[(long long)(line0 + r) * outCols + i] = acc[r];
}

#define RAMP_FILTER_KERNEL(T, R)                                                                          \
	extern "C" __global__ void __launch_bounds__(T)                                                   \
	    rampFilter_t##T##_r##R(float *out, const float *in, const float *pix, const float *col,        \
	                           const float *taps, int inCols, int outCols, int rows, int images, int bins, \
	                           int padLeft, int row0)                                                 \
	{                                                                                                 \
		rampFilter<T, R>(out, in, pix, col, taps, inCols, outCols, rows, images, bins, padLeft, row0); \
	}

#define RAMP_FILTER_ROWS(T)       \
	RAMP_FILTER_KERNEL(T, 4)  \
	RAMP_FILTER_KERNEL(T, 8)  \
	RAMP_FILTER_KERNEL(T, 16)

RAMP_FILTER_ROWS(64)
RAMP_FILTER_ROWS(128)
RAMP_FILTER_ROWS(256)
