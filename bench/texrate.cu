// texrate.cu measures the texture-fetch floor of FDK back-projection on the
// GPU it runs on: the rate of bilinear fetches from a layered float32
// texture of 1, 2 and 4 channels, read in the pattern of a voxel-driven
// back-projector (one thread per (x, y), 8 voxels along z, 32 views per
// launch, neighbouring threads at neighbouring texels), and the same
// bilinear interpolation done in software on float, float2 and float4
// pixels read through the read-only cache. It answers whether several
// energy bins interleaved as channels of one texel, or read and
// interpolated by the SMs instead of the texture units, cost less than one
// texture fetch each, which decides how kernels/backproject.cu reads bins,
// and how far the kernel is from the hardware's rate.
//
// Build and run on the GPU machine (nvcc is there, Go is not):
//   nvcc -O3 -arch=sm_90 -o texrate bench/texrate.cu && ./texrate
// It prints, per channel count, fetches per second and channel values per
// second (bin updates). kernels/gpu-check.sh runs it; bench/RESULTS.md has
// the figures.
#include <cstdio>
#include <cstdlib>
#include <cuda_runtime.h>

#define CHECK(x)                                                                               \
	do {                                                                                   \
		cudaError_t e = (x);                                                           \
		if (e != cudaSuccess) {                                                        \
			fprintf(stderr, "%s:%d: %s: %s\n", __FILE__, __LINE__, #x, cudaGetErrorString(e)); \
			exit(1);                                                               \
		}                                                                              \
	} while (0)

static const int N = 512, VIEWS = 32, VPT = 8, W = 1248, H = 960;

__constant__ float4 rows[VIEWS * 2];

template <typename T> __device__ float total(T v);
template <> __device__ float total(float v) { return v; }
template <> __device__ float total(float2 v) { return v.x + v.y; }
template <> __device__ float total(float4 v) { return v.x + v.y + v.z + v.w; }

// fetches sums VIEWS*VPT bilinear fetches per thread along a parallel-beam
// pattern: s follows x and y through view i's rotation, t follows z.
template <typename T> __global__ void fetches(cudaTextureObject_t tex, float *out)
{
	const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
	const int z0 = blockIdx.z * VPT;
	float sum = 0.f;
	for (int i = 0; i < VIEWS; i++) {
		const float4 r = rows[2 * i], q = rows[2 * i + 1];
		const float s0 = r.x * x + r.y * y + r.w;
#pragma unroll
		for (int k = 0; k < VPT; k++) {
			const float t = q.z * (z0 + k) + q.w;
			sum += total(tex2DLayered<T>(tex, s0 + r.z * k, t, i));
		}
	}
	out[((size_t)z0 * N + y) * N + x] = sum;
}

template <typename T> __device__ T zero();
template <> __device__ float zero() { return 0.f; }
template <> __device__ float2 zero() { return make_float2(0.f, 0.f); }
template <> __device__ float4 zero() { return make_float4(0.f, 0.f, 0.f, 0.f); }
__device__ float lerp(float a, float b, float f) { return fmaf(f, b - a, a); }
__device__ float2 lerp(float2 a, float2 b, float f) { return make_float2(lerp(a.x, b.x, f), lerp(a.y, b.y, f)); }
__device__ float4 lerp(float4 a, float4 b, float f)
{
	return make_float4(lerp(a.x, b.x, f), lerp(a.y, b.y, f), lerp(a.z, b.z, f), lerp(a.w, b.w, f));
}

// softFetch interpolates bilinearly at texel coordinates (s, t) of layer
// `layer` of img (W x H pixels of T), zero outside, as the texture unit
// does but in fp32 on the SM.
template <typename T> __device__ T softFetch(const T *__restrict__ img, float s, float t, int layer)
{
	const float x = s - 0.5f, y = t - 0.5f;
	const float fx = floorf(x), fy = floorf(y);
	const int i = (int)fx, j = (int)fy;
	const float ax = x - fx, ay = y - fy;
	const T *p = img + ((size_t)layer * H + j) * W + i;
	const bool in0 = j >= 0 && j < H, in1 = j + 1 >= 0 && j + 1 < H;
	const bool l = i >= 0 && i < W, r = i + 1 >= 0 && i + 1 < W;
	T v00 = in0 && l ? __ldg(p) : zero<T>(), v01 = in0 && r ? __ldg(p + 1) : zero<T>();
	T v10 = in1 && l ? __ldg(p + W) : zero<T>(), v11 = in1 && r ? __ldg(p + W + 1) : zero<T>();
	return lerp(lerp(v00, v01, ax), lerp(v10, v11, ax), ay);
}

// softFetches is fetches with softFetch in place of the texture unit.
template <typename T> __global__ void softFetches(const T *__restrict__ img, float *out)
{
	const int x = blockIdx.x * blockDim.x + threadIdx.x, y = blockIdx.y * blockDim.y + threadIdx.y;
	const int z0 = blockIdx.z * VPT;
	float sum = 0.f;
	for (int i = 0; i < VIEWS; i++) {
		const float4 r = rows[2 * i], q = rows[2 * i + 1];
		const float s0 = r.x * x + r.y * y + r.w;
#pragma unroll
		for (int k = 0; k < VPT; k++) {
			const float t = q.z * (z0 + k) + q.w;
			sum += total(softFetch<T>(img, s0 + r.z * k, t, i));
		}
	}
	out[((size_t)z0 * N + y) * N + x] = sum;
}

// timed runs launch once to warm up, then reps times between two events,
// and returns the milliseconds per launch.
template <typename F> float timed(F launch)
{
	const int reps = 10;
	cudaEvent_t a, b;
	CHECK(cudaEventCreate(&a));
	CHECK(cudaEventCreate(&b));
	launch();
	CHECK(cudaGetLastError());
	CHECK(cudaEventRecord(a));
	for (int r = 0; r < reps; r++)
		launch();
	CHECK(cudaEventRecord(b));
	CHECK(cudaEventSynchronize(b));
	CHECK(cudaGetLastError());
	float ms;
	CHECK(cudaEventElapsedTime(&ms, a, b));
	CHECK(cudaEventDestroy(a));
	CHECK(cudaEventDestroy(b));
	return ms / reps;
}

// report prints the rate of one launch of N³ voxels x VIEWS fetches.
void report(const char *how, int channels, float ms)
{
	double rate = (double)N * N * N * VIEWS / (ms * 1e-3);
	printf("%s, %d channel(s): %.1f G fetches/s, %.1f G channel values/s (%.3f ms per 512^3 x 32 views)\n", how,
	       channels, rate / 1e9, rate * channels / 1e9, ms);
}

template <typename T> void run(int channels)
{
	cudaChannelFormatDesc desc = cudaCreateChannelDesc(32, channels > 1 ? 32 : 0, channels > 2 ? 32 : 0,
	                                                   channels > 2 ? 32 : 0, cudaChannelFormatKindFloat);
	cudaArray_t arr;
	CHECK(cudaMalloc3DArray(&arr, &desc, make_cudaExtent(W, H, VIEWS), cudaArrayLayered));
	size_t n = (size_t)W * H * VIEWS * channels;
	float *host = (float *)malloc(n * sizeof(float));
	for (size_t i = 0; i < n; i++)
		host[i] = (float)rand() / RAND_MAX;
	cudaMemcpy3DParms p = {};
	p.srcPtr = make_cudaPitchedPtr(host, W * channels * sizeof(float), W, H);
	p.dstArray = arr;
	p.extent = make_cudaExtent(W, H, VIEWS);
	p.kind = cudaMemcpyHostToDevice;
	CHECK(cudaMemcpy3D(&p));
	cudaResourceDesc res = {};
	res.resType = cudaResourceTypeArray;
	res.res.array.array = arr;
	cudaTextureDesc td = {};
	td.addressMode[0] = td.addressMode[1] = td.addressMode[2] = cudaAddressModeBorder;
	td.filterMode = cudaFilterModeLinear;
	td.readMode = cudaReadModeElementType;
	cudaTextureObject_t tex;
	CHECK(cudaCreateTextureObject(&tex, &res, &td, NULL));
	float4 rowsHost[VIEWS * 2];
	for (int i = 0; i < VIEWS; i++) {
		float a = 3.14159265f * i / VIEWS, c = cosf(a), s = sinf(a);
		rowsHost[2 * i] = make_float4(c * 1.6f, s * 1.6f, 0.01f, W / 2 - 0.8f * N * (c + s));
		rowsHost[2 * i + 1] = make_float4(0, 0, 1.6f, H / 2 - 0.8f * N);
	}
	CHECK(cudaMemcpyToSymbol(rows, rowsHost, sizeof rowsHost));
	float *out;
	CHECK(cudaMalloc(&out, (size_t)N * N * N * sizeof(float)));
	dim3 block(32, 8), grid(N / 32, N / 8, N / VPT);
	T *img;
	CHECK(cudaMalloc(&img, n * sizeof(float)));
	CHECK(cudaMemcpy(img, host, n * sizeof(float), cudaMemcpyHostToDevice));
	report("texture", channels, timed([&] { fetches<T><<<grid, block>>>(tex, out); }));
	report("software", channels, timed([&] { softFetches<T><<<grid, block>>>(img, out); }));
	CHECK(cudaFree(img));
	CHECK(cudaDestroyTextureObject(tex));
	CHECK(cudaFreeArray(arr));
	CHECK(cudaFree(out));
	free(host);
}

int main()
{
	cudaDeviceProp prop;
	CHECK(cudaGetDeviceProperties(&prop, 0));
	printf("%s, %d SMs\n", prop.name, prop.multiProcessorCount);
	run<float>(1);
	run<float2>(2);
	run<float4>(4);
	return 0;
}
