package kernels

// C structures and constants of the driver API, from cuda.h (CUDA 11.8).
// The driver keeps these layouts stable across versions; abi_test.go checks
// the Go layouts against sizes and offsets measured with gcc.

// array3DDescriptor is CUDA_ARRAY3D_DESCRIPTOR.
type array3DDescriptor struct {
	Width, Height, Depth uintptr
	Format               uint32 // CUarray_format
	NumChannels          uint32
	Flags                uint32
	_                    uint32
}

// resourceDesc is CUDA_RESOURCE_DESC with its union as the array member
// (hArray) followed by the union's remaining bytes.
type resourceDesc struct {
	ResType uint32 // CUresourcetype
	_       uint32
	Array   uintptr // res.array.hArray
	_       [120]byte
	Flags   uint32
	_       uint32
}

// textureDesc is CUDA_TEXTURE_DESC.
type textureDesc struct {
	AddressMode         [3]uint32 // CUaddress_mode per dimension
	FilterMode          uint32    // CUfilter_mode
	Flags               uint32
	MaxAnisotropy       uint32
	MipmapFilterMode    uint32
	MipmapLevelBias     float32
	MinMipmapLevelClamp float32
	MaxMipmapLevelClamp float32
	BorderColor         [4]float32
	_                   [12]int32
}

// memcpy3D is CUDA_MEMCPY3D.
type memcpy3D struct {
	SrcXInBytes, SrcY, SrcZ, SrcLOD uintptr
	SrcMemoryType                   uint32 // CUmemorytype
	_                               uint32
	SrcHost                         uintptr
	SrcDevice                       devPtr
	SrcArray                        uintptr
	_                               uintptr
	SrcPitch, SrcHeight             uintptr

	DstXInBytes, DstY, DstZ, DstLOD uintptr
	DstMemoryType                   uint32
	_                               uint32
	DstHost                         uintptr
	DstDevice                       devPtr
	DstArray                        uintptr
	_                               uintptr
	DstPitch, DstHeight             uintptr

	WidthInBytes, Height, Depth uintptr
}

// Enumerators and flags, values from cuda.h.
const (
	cuADFormatFloat         = 0x20 // CU_AD_FORMAT_FLOAT
	cudaArray3DLayered      = 0x01 // CUDA_ARRAY3D_LAYERED
	cuResourceTypeArray     = 0    // CU_RESOURCE_TYPE_ARRAY
	cuTRAddressModeBorder   = 3    // CU_TR_ADDRESS_MODE_BORDER
	cuTRFilterModeLinear    = 1    // CU_TR_FILTER_MODE_LINEAR
	cuMemoryTypeHost        = 1    // CU_MEMORYTYPE_HOST
	cuMemoryTypeDevice      = 2    // CU_MEMORYTYPE_DEVICE
	cuMemoryTypeArray       = 3    // CU_MEMORYTYPE_ARRAY
	cuMemHostAllocPortable  = 1    // CU_MEMHOSTALLOC_PORTABLE
	cuStreamNonBlocking     = 1    // CU_STREAM_NON_BLOCKING
	cuEventDefault          = 0    // CU_EVENT_DEFAULT
	cuEventDisableTiming    = 2    // CU_EVENT_DISABLE_TIMING
	attrMultiprocessorCount = 16   // CU_DEVICE_ATTRIBUTE_MULTIPROCESSOR_COUNT
	attrComputeMajor        = 75   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MAJOR
	attrComputeMinor        = 76   // CU_DEVICE_ATTRIBUTE_COMPUTE_CAPABILITY_MINOR
	attrTex2DLayeredWidth   = 27   // CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_WIDTH
	attrTex2DLayeredHeight  = 28   // CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_HEIGHT
	attrTex2DLayeredLayers  = 29   // CU_DEVICE_ATTRIBUTE_MAXIMUM_TEXTURE2D_LAYERED_LAYERS
)
