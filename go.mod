module github.com/ctrecon/ctrecon

go 1.26.8

require (
	github.com/ebitengine/purego v0.11.3
	github.com/suyashkumar/dicom v1.1.0
	golang.org/x/sys v0.49.0
)

require (
	golang.org/x/exp v0.0.0-20240525044651-4c93da0ed11d // indirect
	golang.org/x/text v0.30.0 // indirect
)
