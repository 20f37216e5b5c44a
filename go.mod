module github.com/ctrecon/ctrecon

go 1.26.8

require (
	github.com/ebitengine/purego v0.11.3 // indirect
	github.com/suyashkumar/dicom v1.1.0 // indirect
	golang.org/x/exp v0.0.0-20240525044651-4c93da0ed11d // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.3.8 // indirect
)
