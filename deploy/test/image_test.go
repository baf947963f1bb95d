package test

import (
	"archive/tar"
	"bytes"
	"debug/elf"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/layout"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

// TestImage assembles the static image without a container engine and
// checks what the Dockerfile's default target promises: a static binary,
// a non-root user, the entrypoint, and no shell.
//
// The Dockerfile's base (distroless static) cannot be pulled here, so the
// image is built from scratch with go-containerregistry: one layer with
// the binary (CGO_ENABLED=0, as in the Dockerfile), /etc/passwd and
// /etc/group naming the nonroot user 65532, the CA bundle and a /tmp,
// which is what that base provides.
func TestImage(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "mcpfort")
	// As the Dockerfile builds it, less -trimpath, which would compile
	// every package anew instead of reusing the build cache.
	build := exec.Command("go", "build", "-ldflags=-s -w -X main.version=image-test", "-o", bin, "./cmd/mcpfort")
	build.Dir = "../.."
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("static build: %v\n%s", err, out)
	}
	exe, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := os.ReadFile("/etc/ssl/certs/ca-certificates.crt")
	if err != nil {
		t.Fatalf("the image needs a CA bundle (Debian's ca-certificates): %v", err)
	}

	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	mtime := time.Unix(0, 0)
	for _, f := range []struct {
		name string
		mode int64
		body []byte
	}{
		{"etc/", 0o755, nil},
		{"etc/passwd", 0o644, []byte("root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/sbin/nologin\n")},
		{"etc/group", 0o644, []byte("root:x:0:\nnonroot:x:65532:\n")},
		{"etc/ssl/", 0o755, nil},
		{"etc/ssl/certs/", 0o755, nil},
		{"etc/ssl/certs/ca-certificates.crt", 0o644, ca},
		{"home/", 0o755, nil},
		{"home/nonroot/", 0o700, nil},
		{"tmp/", 0o1777, nil},
		{"mcpfort", 0o755, exe},
	} {
		h := &tar.Header{Name: f.name, Mode: f.mode, Size: int64(len(f.body)), ModTime: mtime, Typeflag: tar.TypeReg}
		if strings.HasSuffix(f.name, "/") {
			h.Typeflag = tar.TypeDir
		}
		if f.name == "home/nonroot/" {
			h.Uid, h.Gid = 65532, 65532
		}
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(f.body); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil })
	if err != nil {
		t.Fatal(err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		t.Fatal(err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", runtime.GOARCH
	cf.Created = v1.Time{Time: mtime}
	cf.Config.User = "65532:65532"
	cf.Config.Entrypoint = []string{"/mcpfort"}
	cf.Config.Cmd = []string{"serve", "--config", "/etc/mcpfort/mcpfort.yaml"}
	cf.Config.WorkingDir = "/"
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		t.Fatal(err)
	}

	// Written as an OCI layout and read back, as a registry or a runtime
	// would see it.
	p, err := layout.Write(filepath.Join(dir, "oci"), empty.Index)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.AppendImage(img); err != nil {
		t.Fatal(err)
	}
	idx, err := p.ImageIndex()
	if err != nil {
		t.Fatal(err)
	}
	m, err := idx.IndexManifest()
	if err != nil || len(m.Manifests) != 1 {
		t.Fatalf("layout index: %v %v", m, err)
	}
	got, err := p.Image(m.Manifests[0].Digest)
	if err != nil {
		t.Fatal(err)
	}
	gcf, err := got.ConfigFile()
	if err != nil {
		t.Fatal(err)
	}
	if u := gcf.Config.User; u == "" || u == "0" || u == "root" || strings.HasPrefix(u, "0:") || strings.HasPrefix(u, "root:") {
		t.Errorf("image user %q is root", u)
	}
	if !slices.Equal(gcf.Config.Entrypoint, []string{"/mcpfort"}) {
		t.Errorf("entrypoint %v", gcf.Config.Entrypoint)
	}

	// The flattened file system: no shell, nothing but what was put in.
	rc := mutate.Extract(got)
	defer rc.Close()
	tr := tar.NewReader(rc)
	var names []string
	root := filepath.Join(dir, "rootfs")
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
		base := filepath.Base(h.Name)
		if base == "sh" || base == "bash" || base == "busybox" || strings.HasPrefix(h.Name, "bin/") || strings.HasPrefix(h.Name, "usr/") {
			t.Errorf("image holds %s", h.Name)
		}
		if h.Name == "mcpfort" {
			if err := os.MkdirAll(root, 0o755); err != nil {
				t.Fatal(err)
			}
			f, err := os.OpenFile(filepath.Join(root, "mcpfort"), os.O_CREATE|os.O_WRONLY, 0o755)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := io.Copy(f, tr); err != nil {
				t.Fatal(err)
			}
			f.Close()
		}
	}
	if !slices.Contains(names, "mcpfort") || !slices.Contains(names, "etc/ssl/certs/ca-certificates.crt") {
		t.Fatalf("image files: %v", names)
	}

	// Static: no program interpreter, no shared libraries.
	ef, err := elf.Open(filepath.Join(root, "mcpfort"))
	if err != nil {
		t.Fatal(err)
	}
	defer ef.Close()
	for _, prog := range ef.Progs {
		if prog.Type == elf.PT_INTERP {
			t.Error("the binary has a program interpreter: it is not static")
		}
	}
	if libs, _ := ef.ImportedLibraries(); len(libs) > 0 {
		t.Errorf("the binary needs %v", libs)
	}
	out, err := exec.Command(filepath.Join(root, "mcpfort"), "version").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "image-test") {
		t.Errorf("mcpfort version from the image: %v %s", err, out)
	}
	digest, _ := got.Digest()
	size, _ := layer.Size()
	t.Logf("image %s, one layer of %d bytes (compressed)", digest, size)
}
