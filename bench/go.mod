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

require gonum.org/v1/plot v0.17.0

require (
	codeberg.org/go-fonts/liberation v0.5.0 // indirect
	codeberg.org/go-latex/latex v0.2.0 // indirect
	codeberg.org/go-pdf/fpdf v0.11.1 // indirect
	git.sr.ht/~sbinet/gg v0.7.0 // indirect
	github.com/ajstarks/svgo v0.0.0-20211024235047-1546f124cd8b // indirect
	github.com/andybalholm/brotli v1.2.0 // indirect
	github.com/golang/freetype v0.0.0-20170609003504-e2365dfdc4a0 // indirect
	github.com/klauspost/compress v1.18.2 // indirect
	github.com/valyala/bytebufferpool v1.0.0 // indirect
	golang.org/x/image v0.30.0 // indirect
	golang.org/x/sys v0.49.0 // indirect
	golang.org/x/text v0.32.0 // indirect
)
