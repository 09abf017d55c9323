package httpapi

import (
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/awslabs/aws-lambda-go-api-proxy/core"
	"github.com/gin-gonic/gin"

	"github.com/livestack/livestack/shared/store"
)

// Caller kinds.
const (
	// CallerAdmin used the admin token.
	CallerAdmin = "admin"
	// CallerAPIKey used an API key created through /api/v1/keys.
	CallerAPIKey = "apikey"
	// CallerUser is a console user API Gateway's Cognito authorizer admitted.
	CallerUser = "user"
	// CallerGatewayKey used an API Gateway API key (usage plans) or IAM.
	CallerGatewayKey = "gateway"
)

// Caller is who made a request.
type Caller struct {
	Kind string `json:"kind"`
	// ID is the API key id, the Cognito subject or the API Gateway key id.
	ID string `json:"id"`
}

// mayManageKeys: API keys cannot mint or revoke API keys.
func (c Caller) mayManageKeys() bool { return c.Kind == CallerAdmin || c.Kind == CallerUser }

// errNoIdentity: the request carries no identity an authorizer established.
var errNoIdentity = errors.New("no authorizer identity")

// auth admits the admin token, an active API key (both as
// "Authorization: Bearer <token>", scheme case-insensitive) or, in Lambda
// mode, the identity established by API Gateway.
func (a *API) auth(c *gin.Context) {
	caller, err := a.authenticate(c)
	if err != nil {
		if !errors.Is(err, errNoIdentity) && !errors.Is(err, errBadToken) {
			a.fail(c, http.StatusInternalServerError, "store", "could not check the credentials", err)
			return
		}
		c.Header("WWW-Authenticate", `Bearer realm="livestack"`)
		a.fail(c, http.StatusUnauthorized, "unauthorized", "a valid bearer token is required", nil)
		return
	}
	c.Set("caller", caller)
	c.Next()
}

var errBadToken = errors.New("bad bearer token")

func (a *API) authenticate(c *gin.Context) (Caller, error) {
	caller, err := a.bearer(c)
	if errors.Is(err, errBadToken) && a.cfg.Identity != nil {
		// Behind a Cognito authorizer the Authorization header holds the
		// user's JWT, which API Gateway verified: the identity is in the context.
		return a.cfg.Identity(c.Request)
	}
	return caller, err
}

// bearer checks "Authorization: Bearer <admin token or API key>".
func (a *API) bearer(c *gin.Context) (Caller, error) {
	h := c.GetHeader("Authorization")
	if h == "" {
		return Caller{}, errBadToken
	}
	scheme, tok, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") || tok == "" {
		return Caller{}, errBadToken
	}
	if subtle.ConstantTimeCompare([]byte(tok), []byte(a.cfg.AdminToken)) == 1 {
		return Caller{Kind: CallerAdmin, ID: "admin"}, nil
	}
	if !strings.HasPrefix(tok, apiKeyPrefix) || len(tok) > 256 {
		return Caller{}, errBadToken
	}
	sum := sha256.Sum256([]byte(tok))
	k, err := a.cfg.Store.APIKeyByHash(c.Request.Context(), hex.EncodeToString(sum[:]))
	if errors.Is(err, store.ErrNotFound) {
		return Caller{}, errBadToken
	}
	if err != nil {
		return Caller{}, fmt.Errorf("look up api key: %w", err)
	}
	if !k.Active(a.cfg.Now()) {
		return Caller{}, errBadToken
	}
	return Caller{Kind: CallerAPIKey, ID: k.ID}, nil
}

func (a *API) adminOnly(c *gin.Context) {
	caller, _ := c.Get("caller")
	if cl, ok := caller.(Caller); !ok || !cl.mayManageKeys() {
		a.fail(c, http.StatusForbidden, "forbidden", "API keys cannot manage API keys; use the admin token", nil)
		return
	}
	c.Next()
}

// APIGatewayAuth says which API Gateway identities the Lambda accepts.
type APIGatewayAuth struct {
	// CognitoIssuer, when set, must equal the claims' iss
	// ("https://cognito-idp.REGION.amazonaws.com/POOL_ID").
	CognitoIssuer string
	// CognitoGroup, when set, must be one of the user's cognito:groups.
	CognitoGroup string
	// AllowAPIKeys admits requests API Gateway matched to one of its API keys
	// (requestContext.identity.apiKeyId).
	AllowAPIKeys bool
	// IAMPrincipals admits IAM-signed requests whose userArn starts with one of these.
	IAMPrincipals []string
}

// APIGatewayIdentity returns a Config.Identity reading the REST proxy
// request context aws-lambda-go-api-proxy puts in the request's context. It
// checks the identity again (defence in depth behind the API Gateway
// authorizer): Cognito claims with a subject and the expected issuer and
// group, an API Gateway API key id, or an allowed IAM principal.
func APIGatewayIdentity(cfg APIGatewayAuth) func(*http.Request) (Caller, error) {
	return func(r *http.Request) (Caller, error) {
		rc, ok := core.GetAPIGatewayContextFromContext(r.Context())
		if !ok {
			return Caller{}, errNoIdentity
		}
		if claims, ok := rc.Authorizer["claims"].(map[string]any); ok {
			sub, _ := claims["sub"].(string)
			iss, _ := claims["iss"].(string)
			use, _ := claims["token_use"].(string)
			switch {
			case sub == "":
			case cfg.CognitoIssuer != "" && iss != cfg.CognitoIssuer:
			case use != "" && use != "id" && use != "access":
			case cfg.CognitoGroup != "" && !slices.Contains(groups(claims["cognito:groups"]), cfg.CognitoGroup):
			default:
				return Caller{Kind: CallerUser, ID: sub}, nil
			}
			return Caller{}, errNoIdentity
		}
		if cfg.AllowAPIKeys && rc.Identity.APIKeyID != "" {
			return Caller{Kind: CallerGatewayKey, ID: rc.Identity.APIKeyID}, nil
		}
		if arn := rc.Identity.UserArn; arn != "" {
			for _, p := range cfg.IAMPrincipals {
				if p != "" && strings.HasPrefix(arn, p) {
					return Caller{Kind: CallerGatewayKey, ID: arn}, nil
				}
			}
		}
		return Caller{}, errNoIdentity
	}
}

// groups reads cognito:groups, which API Gateway passes as a JSON array or as
// one string ("[a b]" or "a,b").
func groups(v any) []string {
	switch g := v.(type) {
	case []any:
		out := make([]string, 0, len(g))
		for _, x := range g {
			if s, ok := x.(string); ok {
				out = append(out, s)
			}
		}
		return out
	case string:
		return strings.FieldsFunc(strings.Trim(g, "[]"), func(r rune) bool { return r == ',' || r == ' ' })
	}
	return nil
}
