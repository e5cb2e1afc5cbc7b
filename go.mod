module github.com/dallyhttp/dally

go 1.24
