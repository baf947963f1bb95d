// Package test checks the deployment artefacts offline: the image
// (image_test.go) and the Helm chart.
//
// It lints and renders the Helm chart in ../helm/mcpfort and
// checks every rendered object by decoding it strictly into the
// Kubernetes API types: an unknown or misplaced field is an error, as a
// server-side apply with field validation would make it. It is a module
// of its own so that the Kubernetes API modules stay out of mcpfort's.
//
// helm is built once from its Go module by scripts/gotool.sh. Rendered
// manifests are pinned in testdata/*.golden.yaml; -update rewrites them.
package test

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"sigs.k8s.io/yaml"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const (
	chartDir    = "../helm/mcpfort"
	kubeVersion = "1.34.0"
)

func helm(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("../../scripts/gotool.sh", "helm").Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("helm cannot be built (scripts/gotool.sh helm): %v\n%s", err, stderr)
	}
	return strings.TrimSpace(string(out))
}

// serviceMonitor is the part of the Prometheus Operator's ServiceMonitor
// (monitoring.coreos.com/v1) the chart renders; decoding into it strictly
// catches a misplaced field as the CRD's schema would.
type serviceMonitor struct {
	APIVersion string             `json:"apiVersion"`
	Kind       string             `json:"kind"`
	Metadata   metav1ObjectMeta   `json:"metadata"`
	Spec       serviceMonitorSpec `json:"spec"`
}

type metav1ObjectMeta struct {
	Name   string            `json:"name"`
	Labels map[string]string `json:"labels"`
}

type serviceMonitorSpec struct {
	Selector struct {
		MatchLabels map[string]string `json:"matchLabels"`
	} `json:"selector"`
	Endpoints []struct {
		Port      string         `json:"port"`
		Path      string         `json:"path"`
		Interval  string         `json:"interval"`
		Scheme    string         `json:"scheme"`
		TLSConfig map[string]any `json:"tlsConfig,omitempty"`
	} `json:"endpoints"`
}

type rendered struct {
	deployment *appsv1.Deployment
	service    *corev1.Service
	configMap  *corev1.ConfigMap
	pdb        *policyv1.PodDisruptionBudget
	monitor    *serviceMonitor
	kinds      []string
}

// decode strictly decodes each document of a rendered manifest.
func decode(t *testing.T, manifest []byte) rendered {
	t.Helper()
	var r rendered
	for _, doc := range bytes.Split(manifest, []byte("\n---\n")) {
		var head struct {
			APIVersion string `json:"apiVersion"`
			Kind       string `json:"kind"`
		}
		if err := yaml.Unmarshal(doc, &head); err != nil {
			t.Fatalf("document: %v\n%s", err, doc)
		}
		if head.Kind == "" {
			continue // a document holding only a comment
		}
		var obj any
		switch head.APIVersion + " " + head.Kind {
		case "apps/v1 Deployment":
			r.deployment = &appsv1.Deployment{}
			obj = r.deployment
		case "v1 Service":
			r.service = &corev1.Service{}
			obj = r.service
		case "v1 ConfigMap":
			r.configMap = &corev1.ConfigMap{}
			obj = r.configMap
		case "policy/v1 PodDisruptionBudget":
			r.pdb = &policyv1.PodDisruptionBudget{}
			obj = r.pdb
		case "monitoring.coreos.com/v1 ServiceMonitor":
			r.monitor = &serviceMonitor{}
			obj = r.monitor
		default:
			t.Fatalf("unexpected object %s %s", head.APIVersion, head.Kind)
		}
		if err := yaml.UnmarshalStrict(doc, obj); err != nil {
			t.Fatalf("%s does not decode strictly: %v\n%s", head.Kind, err, doc)
		}
		r.kinds = append(r.kinds, head.Kind)
	}
	return r
}

func TestChart(t *testing.T) {
	bin := helm(t)
	fixtures, err := filepath.Glob(filepath.Join(chartDir, "ci", "*-values.yaml"))
	if err != nil || len(fixtures) == 0 {
		t.Fatalf("no values fixtures in %s/ci: %v", chartDir, err)
	}
	for _, f := range fixtures {
		name := strings.TrimSuffix(filepath.Base(f), "-values.yaml")
		t.Run(name, func(t *testing.T) {
			if out, err := exec.Command(bin, "lint", "--strict", "--kube-version", kubeVersion, "-f", f, chartDir).CombinedOutput(); err != nil {
				t.Fatalf("helm lint --strict: %v\n%s", err, out)
			}
			out, err := exec.Command(bin, "template", "mcpfort", chartDir, "--kube-version", kubeVersion, "-f", f).Output()
			if err != nil {
				t.Fatalf("helm template: %v\n%s", err, stderrOf(err))
			}
			golden := filepath.Join("testdata", name+".golden.yaml")
			if *update {
				if err := os.WriteFile(golden, out, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(out, want) {
				t.Errorf("rendered manifest differs from %s (run with -update after checking the change)", golden)
			}
			checkObjects(t, decode(t, out), name)
		})
	}
}

// checkObjects asserts what the chart promises whatever the values.
func checkObjects(t *testing.T, r rendered, fixture string) {
	t.Helper()
	if r.deployment == nil || r.service == nil || r.configMap == nil {
		t.Fatalf("missing objects: %v", r.kinds)
	}
	if slices.Contains(r.kinds, "Secret") {
		t.Error("the chart rendered a Secret: secrets are referenced, never rendered")
	}
	pod := r.deployment.Spec.Template.Spec
	psc := pod.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser == 0 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod security context: %+v", psc)
	}
	if pod.AutomountServiceAccountToken == nil || *pod.AutomountServiceAccountToken {
		t.Error("the service account token is mounted")
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("%d containers", len(pod.Containers))
	}
	c := pod.Containers[0]
	sc := c.SecurityContext
	if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem || sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation ||
		sc.Capabilities == nil || !slices.Equal(sc.Capabilities.Drop, []corev1.Capability{"ALL"}) {
		t.Errorf("container security context: %+v", sc)
	}
	if c.LivenessProbe == nil || c.LivenessProbe.HTTPGet == nil || c.LivenessProbe.HTTPGet.Path != "/healthz" ||
		c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" ||
		c.LivenessProbe.HTTPGet.Port != intstr.FromString("http") {
		t.Errorf("probes: liveness %+v readiness %+v", c.LivenessProbe, c.ReadinessProbe)
	}
	volumes := map[string]corev1.Volume{}
	for _, v := range pod.Volumes {
		volumes[v.Name] = v
	}
	mounts := map[string]string{}
	for _, m := range c.VolumeMounts {
		mounts[m.MountPath] = m.Name
	}
	if v, ok := volumes[mounts["/tmp"]]; !ok || v.EmptyDir == nil {
		t.Errorf("/tmp is not an emptyDir: %+v", v)
	}
	if v, ok := volumes[mounts["/var/lib/mcpfort"]]; !ok || v.EmptyDir == nil {
		t.Errorf("/var/lib/mcpfort (state.dir) is not an emptyDir: %+v", v)
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil && (strings.Contains(strings.ToLower(e.Name), "secret") || strings.Contains(e.Name, "PASSWORD") || strings.Contains(e.Name, "KEK")) {
			t.Errorf("environment variable %s has an inline value", e.Name)
		}
	}
	if len(pod.TopologySpreadConstraints) == 0 {
		t.Error("no topology spread constraints")
	}
	if r.pdb == nil || r.pdb.Spec.MaxUnavailable == nil {
		t.Error("no PodDisruptionBudget")
	}
	cfg := r.configMap.Data["mcpfort.yaml"]
	var conf map[string]any
	if err := yaml.UnmarshalStrict([]byte(cfg), &conf); err != nil || conf["listen"] != "0.0.0.0:8080" {
		t.Errorf("configuration: %v %v\n%s", conf["listen"], err, cfg)
	}
	checkConfig(t, cfg)

	switch fixture {
	case "ha":
		if *r.deployment.Spec.Replicas != 3 || r.monitor == nil || len(r.monitor.Spec.Endpoints) != 1 || r.monitor.Spec.Endpoints[0].Scheme != "https" {
			t.Errorf("ha: replicas %d, monitor %+v", *r.deployment.Spec.Replicas, r.monitor)
		}
		if v, ok := volumes[mounts["/etc/mcpfort/tls"]]; !ok || v.Secret == nil || v.Secret.SecretName != "mcpfort-tls" {
			t.Errorf("ha: TLS Secret not mounted as a directory: %+v", v)
		}
		if c.ReadinessProbe.HTTPGet.Scheme != corev1.URISchemeHTTPS {
			t.Errorf("ha: probes over %s with TLS on", c.ReadinessProbe.HTTPGet.Scheme)
		}
	case "minimal":
		if r.monitor != nil {
			t.Error("minimal: ServiceMonitor rendered while disabled")
		}
	}
}

// checkConfig runs `mcpfort check-config` on the rendered configuration,
// with the secrets it references given dummy values and the files the
// chart mounts replaced by local ones.
func checkConfig(t *testing.T, cfg string) {
	t.Helper()
	dir := t.TempDir()
	cfg = strings.ReplaceAll(cfg, "/var/lib/mcpfort", dir)
	p := filepath.Join(dir, "mcpfort.yaml")
	if err := os.WriteFile(p, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("go", "run", "./cmd/mcpfort", "check-config", p)
	cmd.Dir = "../.."
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("mcpfort check-config on the rendered configuration: %v\n%s\n%s", err, out, cfg)
	}
}

func stderrOf(err error) string {
	if ee, ok := err.(*exec.ExitError); ok {
		return string(ee.Stderr)
	}
	return fmt.Sprint(err)
}

// TestStrictDecoding: a misplaced field deep in a pod template is an
// error, so the checks above cannot pass on a typo.
func TestStrictDecoding(t *testing.T) {
	doc := []byte("apiVersion: apps/v1\nkind: Deployment\nspec:\n  template:\n    spec:\n      containers:\n        - {name: x, image: y, readOnlyRootFilesystem: true}\n")
	if err := yaml.UnmarshalStrict(doc, &appsv1.Deployment{}); err == nil || !strings.Contains(err.Error(), "readOnlyRootFilesystem") {
		t.Fatalf("misplaced field accepted: %v", err)
	}
}
