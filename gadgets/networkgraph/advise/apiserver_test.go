package advise_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gadgetkit/gadget/gadgets/networkgraph/advise"
	"github.com/gadgetkit/gadget/internal/testenv"
)

// TestAPIServerAcceptsAdvice creates every advised policy in a real API
// server (server-side dry run), so its validation is the judge.
func TestAPIServerAcceptsAdvice(t *testing.T) {
	_, cfg := testenv.StartAPIServer(t, nil)
	c := kubernetes.NewForConfigOrDie(cfg)
	ctx := t.Context()

	res := advise.Advise(graph())
	if len(res.Policies) == 0 {
		t.Fatal("no policies advised")
	}
	namespaces := map[string]bool{}
	for _, p := range res.Policies {
		if !namespaces[p.Namespace] {
			namespaces[p.Namespace] = true
			if _, err := c.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: p.Namespace}}, metav1.CreateOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := c.NetworkingV1().NetworkPolicies(p.Namespace).Create(ctx, &p, metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}})
		if err != nil {
			t.Errorf("API server rejects advised policy %s/%s: %v", p.Namespace, p.Name, err)
		}
	}
}
