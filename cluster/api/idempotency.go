package api

import (
	"context"
	"errors"
	"net/http"
	"strconv"

	"github.com/thinraft/thinraft/metadata"
)

// HeaderIdempotencyKey carries a client's idempotency key on a write: every
// attempt of one logical call sends the same key, and a repeat of a call
// that already succeeded is answered with its first result instead of being
// applied again (metadata/requests.go). The name is the one the IETF
// httpapi draft and most HTTP APIs use.
const HeaderIdempotencyKey = "Idempotency-Key"

// MaxIdempotencyKey is the longest key a client may send; the API appends
// "#n" to tell apart the commands one request proposes (a PATCH proposes
// one per changed attribute), within metadata.MaxRequestKey.
const MaxIdempotencyKey = metadata.MaxRequestKey - 8

type requestKeyCtx struct{}

// withRequestKey checks the request's key and carries it in its context,
// where apply finds it.
func withRequestKey(r *http.Request) (*http.Request, error) {
	k := r.Header.Get(HeaderIdempotencyKey)
	if k == "" {
		return r, nil
	}
	if len(k) > MaxIdempotencyKey {
		return r, errorf("invalid", HeaderIdempotencyKey+" is "+strconv.Itoa(len(k))+" bytes; send at most "+strconv.Itoa(MaxIdempotencyKey))
	}
	if err := metadata.ValidateRequestKey(k); err != nil {
		msg := err.Error()
		var me *metadata.Error
		if errors.As(err, &me) {
			msg = me.Message
		}
		return r, errorf("invalid", HeaderIdempotencyKey+": "+msg)
	}
	return r.WithContext(context.WithValue(r.Context(), requestKeyCtx{}, k)), nil
}

func requestKey(ctx context.Context) string {
	k, _ := ctx.Value(requestKeyCtx{}).(string)
	return k
}

// subRequest derives the key of the n-th command of a request that
// proposes several; a request without a key stays without.
func subRequest(ctx context.Context, n int) context.Context {
	k := requestKey(ctx)
	if k == "" {
		return ctx
	}
	return context.WithValue(ctx, requestKeyCtx{}, k+"#"+strconv.Itoa(n))
}
