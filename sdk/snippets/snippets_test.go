package snippets

import (
	"bytes"
	"os"
	"os/exec"
	"slices"
	"testing"
)

// TestSnippetsCompile type-checks every snippet with the build tag.
func TestSnippetsCompile(t *testing.T) {
	gobin, err := exec.LookPath("go")
	if err != nil {
		t.Fatal("go command not found:", err)
	}
	args := []string{"vet", "-tags", "snippet"}
	for _, name := range Names() {
		args = append(args, "./"+name)
	}
	if out, err := exec.Command(gobin, args...).CombinedOutput(); err != nil {
		t.Fatalf("go %v: %v\n%s", args, err, out)
	}
}

func TestSource(t *testing.T) {
	if got, want := Names(), []string{"go-nethttp", "go-sdk", "mcp-go"}; !slices.Equal(got, want) {
		t.Fatalf("Names = %v, want %v", got, want)
	}
	for _, name := range Names() {
		got, err := Source(name)
		if err != nil {
			t.Fatal(err)
		}
		want, err := os.ReadFile(name + "/main.go")
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(append([]byte(buildTag), got...), want) || !bytes.HasPrefix(got, []byte("// Command ")) {
			t.Errorf("snippet %s: Source is not its file without the build tag", name)
		}
	}
	if _, err := Source("rust"); err == nil {
		t.Error("Source of an unknown snippet succeeded")
	}
}
