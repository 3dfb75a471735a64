package snippets

import (
	"bytes"
	"io/fs"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// TestSnippetsCompile type-checks every Go snippet with the build tag. (The
// TypeScript and Python ones are checked by their SDKs' suites: see the
// package doc.)
func TestSnippetsCompile(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go command not found:", err)
	}
	args := []string{"vet", "-tags", "snippet"}
	for _, name := range Names() {
		if p, _ := Path(name); strings.HasSuffix(p, "/main.go") {
			args = append(args, "./"+strings.TrimSuffix(p, "/main.go"))
		}
	}
	if len(args) != 6 {
		t.Fatalf("go snippets: %v, want three", args[3:])
	}
	if out, err := exec.Command(gobin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
}

func TestSource(t *testing.T) {
	want := []string{"express", "fastapi", "fastify", "flask", "go-nethttp", "go-sdk", "mcp-go", "py-mcp", "ts-mcp"}
	if got := Names(); !slices.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
	// The first line that says what the starter is, per language.
	heads := map[string]string{".go": "// Command ", ".ts": "// A", ".py": `"""A`}
	for _, name := range Names() {
		got, err := Source(name)
		if err != nil {
			t.Fatal(err)
		}
		p, _ := Path(name)
		file, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		head := heads[p[strings.LastIndex(p, "."):]]
		if strings.HasSuffix(p, ".go") {
			file = bytes.TrimPrefix(file, []byte(buildTag))
		}
		if !bytes.Equal(got, file) || head == "" || !bytes.HasPrefix(got, []byte(head)) || bytes.Contains(got, []byte("go:build")) {
			t.Errorf("snippet %s: Source is not %s (without a build tag) or does not start with %q", name, p, head)
		}
		if !bytes.Contains(got, []byte("legant snippet "+name)) {
			t.Errorf("snippet %s does not say it is the starter for `legant snippet %s`", name, name)
		}
	}
	if _, err := Source("rust"); err == nil || !strings.Contains(err.Error(), "express") {
		t.Errorf("Source of an unknown snippet: %v, want an error listing the snippets", err)
	}
}

// TestEveryFileNamed fails when a starter file in ts/ or py/ is not served
// under a name (embedded but unreachable), so the directories and the table
// stay one list.
func TestEveryFileNamed(t *testing.T) {
	named := map[string]bool{}
	for _, n := range Names() {
		p, _ := Path(n)
		named[p] = true
	}
	for _, dir := range []string{"ts", "py"} {
		entries, err := fs.ReadDir(os.DirFS("."), dir)
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range entries {
			if p := dir + "/" + e.Name(); !named[p] {
				t.Errorf("%s has no snippet name in paths", p)
			}
		}
	}
}
