package main

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"

	"github.com/gadgetkit/gadget/internal/version"
)

func gadgetdPod(node, name, image, ver string, ready bool) corev1.Pod {
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	return corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "gadget", Labels: map[string]string{
			"app.kubernetes.io/name": "gadget", "app.kubernetes.io/component": "gadgetd", versionLabel: ver}},
		Spec: corev1.PodSpec{NodeName: node, Containers: []corev1.Container{{Name: "gadgetd", Image: image}}},
		Status: corev1.PodStatus{
			Conditions:        []corev1.PodCondition{{Type: corev1.PodReady, Status: status}},
			ContainerStatuses: []corev1.ContainerStatus{{Name: "gadgetd", ImageID: "sha256:0123"}},
		},
	}
}

func TestPrintVersion(t *testing.T) {
	client := clientVersion{Version: "v0.2.0", Image: "registry.example/gadgetd:v0.2.0"}
	pods := []corev1.Pod{
		gadgetdPod("node-b", "gadgetd-x", "registry.example/gadgetd:v0.2.0", "v0.2.0", true),
		gadgetdPod("node-a", "gadgetd-y", "registry.example/gadgetd:v0.1.0", "", false),
	}
	for _, tc := range []struct {
		name string
		info versionInfo
		want []string
	}{
		{"not deployed", versionInfo{Client: client}, []string{
			"Client: kubectl-gadget v0.2.0, default gadgetd image registry.example/gadgetd:v0.2.0\n",
			"Agents: gadget is not deployed in this cluster (no DaemonSet gadget/gadgetd); run kubectl gadget deploy\n"}},
		{"development build, not deployed", versionInfo{Client: clientVersion{Version: "dev"}}, []string{
			"Client: kubectl-gadget dev, default gadgetd image none (development build: deploy needs --image)\n",
			"run kubectl gadget deploy --image IMAGE\n"}},
		{"deployed, no pods", versionInfo{Client: client, Deployed: true}, []string{"has no pods yet"}},
		{"two nodes", versionInfo{Client: client, Deployed: true, Agents: agents(pods)}, []string{
			"Agents:\nNODE    POD        IMAGE                            VERSION  READY\n" +
				"node-a  gadgetd-y  registry.example/gadgetd:v0.1.0  -        false\n" +
				"node-b  gadgetd-x  registry.example/gadgetd:v0.2.0  v0.2.0   true\n"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := printVersion(&b, "", tc.info, false); err != nil {
				t.Fatal(err)
			}
			for _, want := range tc.want {
				if !strings.Contains(b.String(), want) {
					t.Errorf("output lacks %q:\n%s", want, b.String())
				}
			}
		})
	}

	var b bytes.Buffer
	if err := printVersion(&b, "json", versionInfo{Client: client, Deployed: true, Agents: agents(pods)}, false); err != nil {
		t.Fatal(err)
	}
	var got versionInfo
	if err := json.Unmarshal(b.Bytes(), &got); err != nil {
		t.Fatalf("-o json is not JSON: %v\n%s", err, b.String())
	}
	if got.Client != client || !got.Deployed || len(got.Agents) != 2 ||
		got.Agents[1] != (agentVersion{Node: "node-b", Pod: "gadgetd-x", Image: "registry.example/gadgetd:v0.2.0", ImageID: "sha256:0123", Version: "v0.2.0", Ready: true}) {
		t.Errorf("-o json = %+v", got)
	}
}

func TestVersionClientOnly(t *testing.T) {
	defer func(v string) { version.Version = v }(version.Version)
	version.Version = "v0.3.0-2-gabcdef0"
	stdout, stderr, code := cli(t, nil, "version", "--client")
	want := "Client: kubectl-gadget v0.3.0-2-gabcdef0, default gadgetd image " + version.ImageRepo + ":v0.3.0-2-gabcdef0\n"
	if code != 0 || stdout != want {
		t.Errorf("version --client: code %d, stdout %q, stderr %q; want %q", code, stdout, stderr, want)
	}
	_, stderr, code = cli(t, nil, "version", "-o", "yaml")
	if code != 2 || !strings.Contains(stderr, "use json") {
		t.Errorf("version -o yaml: code %d, stderr %q", code, stderr)
	}
}

func TestDeployImage(t *testing.T) {
	defer func(v string) { version.Version = v }(version.Version)
	version.Version = ""
	if _, err := deployImage(""); err == nil || !strings.Contains(err.Error(), "pass --image") {
		t.Errorf("deploy image of a development build: %v, want advice to pass --image", err)
	}
	if img, err := deployImage("registry.example/gadgetd:v9"); err != nil || img != "registry.example/gadgetd:v9" {
		t.Errorf("--image: %q, %v", img, err)
	}
	version.Version = "v0.4.0"
	if img, err := deployImage(""); err != nil || img != version.ImageRepo+":v0.4.0" {
		t.Errorf("default image: %q, %v", img, err)
	}
}

func TestImageVersion(t *testing.T) {
	for image, want := range map[string]string{
		"ghcr.io/gadgetkit/gadgetd:v0.0.0-90-gf3691c2": "v0.0.0-90-gf3691c2",
		"localhost:5000/gadgetd:v1@sha256:abcd":        "v1",
		"localhost:5000/gadgetd":                       "",
		"localhost:5000/gadgetd@sha256:abcd":           "",
		"gadgetd:" + strings.Repeat("x", 70):           "", // too long for a label value
	} {
		if got := imageVersion(image); got != want {
			t.Errorf("imageVersion(%q) = %q, want %q", image, got, want)
		}
	}
}

func TestManifestsSetImageAndVersion(t *testing.T) {
	objs, err := manifests("registry.example/gadgetd:v0.5.0")
	if err != nil {
		t.Fatal(err)
	}
	var ds *unstructured.Unstructured
	for _, o := range objs {
		if o.GetKind() == "DaemonSet" {
			ds = o
		}
	}
	if ds == nil {
		t.Fatal("no DaemonSet in the manifests")
	}
	containers, _, _ := unstructured.NestedSlice(ds.Object, "spec", "template", "spec", "containers")
	if got := containers[0].(map[string]any)["image"]; got != "registry.example/gadgetd:v0.5.0" {
		t.Errorf("image %v", got)
	}
	pod, _, _ := unstructured.NestedStringMap(ds.Object, "spec", "template", "metadata", "labels")
	sel, _, _ := unstructured.NestedStringMap(ds.Object, "spec", "selector", "matchLabels")
	if pod[versionLabel] != "v0.5.0" || ds.GetLabels()[versionLabel] != "v0.5.0" {
		t.Errorf("version labels: pod %v, DaemonSet %v", pod, ds.GetLabels())
	}
	if _, ok := sel[versionLabel]; ok {
		t.Errorf("the selector %v holds the version label: a DaemonSet's selector is immutable", sel)
	}
	if pod["app.kubernetes.io/name"] != "gadget" || pod["app.kubernetes.io/component"] != "gadgetd" {
		t.Errorf("setting the version lost the pod labels: %v", pod)
	}
}
