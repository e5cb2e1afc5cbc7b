module github.com/dallyhttp/dally/bench

go 1.26.0

// dally itself comes from the working tree: the benchmarks measure the code
// beside them, never a published version.
replace github.com/dallyhttp/dally => ../

require (
	github.com/dallyhttp/dally v0.0.0-00010101000000-000000000000
	// fasthttp v1.70+ pulls github.com/molecule-man/go-brrr, which the module
	// proxy does not serve (403); v1.69.0 is the newest that resolves.
	github.com/valyala/fasthttp v1.69.0
)

require (
	github.com/andybalholm/brotli v1.2.0 // indirect
	github.com/klauspost/compress v1.18.2 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
)
