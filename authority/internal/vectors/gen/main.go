// Command gen writes authority/testdata/vectors.json; run it with
// "go generate ./authority".
package main

import (
	"flag"
	"log"
	"os"

	"github.com/openlegant/legant/authority/internal/vectors"
)

func main() {
	keys := flag.String("keys", "testdata/keys", "directory of the fixed test keys")
	out := flag.String("out", "testdata/vectors.json", "file to write")
	flag.Parse()
	data, err := vectors.Generate(*keys)
	if err != nil {
		log.Fatal(err)
	}
	if err := os.WriteFile(*out, data, 0o644); err != nil {
		log.Fatal(err)
	}
}
