// Package kubeauth lets an HTTP endpoint serve only the requests that the
// Kubernetes API server vouches for: the request's bearer token is
// authenticated with a TokenReview, and the user it names is authorized
// for the request's verb on its path (a non-resource URL, e.g. get on
// /metrics) with a SubjectAccessReview. It is what gadgetd's
// --metrics-secure puts in front of the metrics, so that Prometheus (or a
// person) reaches them with the token of an account the cluster's RBAC
// allows, and nobody else does.
//
// Answers are cached for a short time by a hash of the token, so a
// scraper costs the API server two reviews a minute, not two per scrape.
package kubeauth

import (
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	authnv1 "k8s.io/api/authentication/v1"
	authzv1 "k8s.io/api/authorization/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	authnclient "k8s.io/client-go/kubernetes/typed/authentication/v1"
	authzclient "k8s.io/client-go/kubernetes/typed/authorization/v1"
	"k8s.io/client-go/rest"
)

// The cache's bounds: how long an answer is kept, and how many.
const (
	allowTTL    = time.Minute
	denyTTL     = 10 * time.Second
	maxEntries  = 1024
	reviewLimit = 10 * time.Second
)

// Reviewer checks requests with the API server.
type Reviewer struct {
	tokens authnclient.TokenReviewInterface
	access authzclient.SubjectAccessReviewInterface
	log    *slog.Logger
	now    func() time.Time

	mu      sync.Mutex
	answers map[answerKey]answer
	reviews int // TokenReviews and SubjectAccessReviews sent, for tests
}

type answerKey struct {
	token      [sha256.Size]byte
	verb, path string
}

type answer struct {
	status  int    // http.StatusOK, StatusUnauthorized or StatusForbidden
	user    string // the authenticated user, "" if none
	expires time.Time
}

// New returns a Reviewer that sends its reviews with cfg through hc (nil:
// a client of cfg's own).
func New(cfg *rest.Config, hc *http.Client, log *slog.Logger) (*Reviewer, error) {
	if hc == nil {
		var err error
		if hc, err = rest.HTTPClientFor(cfg); err != nil {
			return nil, fmt.Errorf("kubeauth: API client: %w", err)
		}
	}
	authn, err := authnclient.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubeauth: TokenReview client: %w", err)
	}
	authz, err := authzclient.NewForConfigAndClient(cfg, hc)
	if err != nil {
		return nil, fmt.Errorf("kubeauth: SubjectAccessReview client: %w", err)
	}
	return &Reviewer{tokens: authn.TokenReviews(), access: authz.SubjectAccessReviews(), log: log, now: time.Now, answers: map[answerKey]answer{}}, nil
}

// Handler serves next to the requests the API server lets in. The others
// get 401 (no token, or one the API server does not know), 403 (a user
// without the right) or 503 (the API server could not be asked).
func (r *Reviewer) Handler(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		token, ok := bearer(req.Header.Get("Authorization"))
		if !ok {
			w.Header().Set("WWW-Authenticate", `Bearer realm="gadgetd"`)
			http.Error(w, "401 unauthorized: send the bearer token of an account allowed to get "+req.URL.Path+
				" (e.g. a service account bound to the ClusterRole gadget-metrics-reader)", http.StatusUnauthorized)
			return
		}
		verb := strings.ToLower(req.Method)
		a, err := r.check(req.Context(), token, verb, req.URL.Path)
		if err != nil {
			r.log.Warn("request not reviewed", "path", req.URL.Path, "error", err)
			http.Error(w, "503 service unavailable: the API server could not review the request's token", http.StatusServiceUnavailable)
			return
		}
		switch a.status {
		case http.StatusOK:
			next.ServeHTTP(w, req)
		case http.StatusUnauthorized:
			w.Header().Set("WWW-Authenticate", `Bearer realm="gadgetd", error="invalid_token"`)
			http.Error(w, "401 unauthorized: the API server does not accept this token", http.StatusUnauthorized)
		default:
			http.Error(w, fmt.Sprintf("403 forbidden: %s may not %s %s (grant it with the ClusterRole gadget-metrics-reader)", a.user, verb, req.URL.Path), http.StatusForbidden)
		}
	})
}

// bearer returns the token of an "Authorization: Bearer TOKEN" header.
func bearer(h string) (string, bool) {
	scheme, token, ok := strings.Cut(h, " ")
	token = strings.TrimSpace(token)
	return token, ok && strings.EqualFold(scheme, "bearer") && token != ""
}

// check returns the cached answer for token, verb and path, or asks the
// API server: a TokenReview for who the token is, then a
// SubjectAccessReview for whether that user may verb path.
func (r *Reviewer) check(ctx context.Context, token, verb, path string) (answer, error) {
	key := answerKey{token: sha256.Sum256([]byte(token)), verb: verb, path: path}
	now := r.now()
	r.mu.Lock()
	a, ok := r.answers[key]
	r.mu.Unlock()
	if ok && now.Before(a.expires) {
		return a, nil
	}
	ctx, cancel := context.WithTimeout(ctx, reviewLimit)
	defer cancel()
	a, err := r.review(ctx, token, verb, path)
	if err != nil {
		return answer{}, err
	}
	ttl := denyTTL
	if a.status == http.StatusOK {
		ttl = allowTTL
	}
	a.expires = now.Add(ttl)
	r.remember(key, a, now)
	return a, nil
}

func (r *Reviewer) review(ctx context.Context, token, verb, path string) (answer, error) {
	r.count()
	tr, err := r.tokens.Create(ctx, &authnv1.TokenReview{Spec: authnv1.TokenReviewSpec{Token: token}}, metav1.CreateOptions{})
	if err != nil {
		return answer{}, fmt.Errorf("TokenReview: %w", err)
	}
	if !tr.Status.Authenticated {
		return answer{status: http.StatusUnauthorized}, nil
	}
	u := tr.Status.User
	extra := make(map[string]authzv1.ExtraValue, len(u.Extra))
	for k, v := range u.Extra {
		extra[k] = authzv1.ExtraValue(v)
	}
	r.count()
	sar, err := r.access.Create(ctx, &authzv1.SubjectAccessReview{Spec: authzv1.SubjectAccessReviewSpec{
		User: u.Username, UID: u.UID, Groups: u.Groups, Extra: extra,
		NonResourceAttributes: &authzv1.NonResourceAttributes{Path: path, Verb: verb},
	}}, metav1.CreateOptions{})
	if err != nil {
		return answer{}, fmt.Errorf("SubjectAccessReview of %s: %w", u.Username, err)
	}
	if !sar.Status.Allowed || sar.Status.Denied {
		return answer{status: http.StatusForbidden, user: u.Username}, nil
	}
	return answer{status: http.StatusOK, user: u.Username}, nil
}

func (r *Reviewer) count() {
	r.mu.Lock()
	r.reviews++
	r.mu.Unlock()
}

// remember caches a. A full cache first loses its expired answers; if
// none has expired, a is not kept (the next request asks again).
func (r *Reviewer) remember(key answerKey, a answer, now time.Time) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(r.answers) >= maxEntries {
		for k, old := range r.answers {
			if !now.Before(old.expires) {
				delete(r.answers, k)
			}
		}
		if len(r.answers) >= maxEntries {
			return
		}
	}
	r.answers[key] = a
}
