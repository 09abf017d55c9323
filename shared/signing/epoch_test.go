package signing

import (
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func TestForEpoch(t *testing.T) {
	s, err := New(testKey())
	require.NoError(t, err)
	now := time.Unix(1_900_000_000, 0)
	exp := now.Add(time.Hour)
	require.Same(t, s, s.ForEpoch(0))
	require.Same(t, s, s.ForEpoch(-1))
	e1, e2 := s.ForEpoch(1), s.ForEpoch(2)
	require.Equal(t, e1.Sign("ch", exp), s.ForEpoch(1).Sign("ch", exp), "an epoch's key is stable")
	for i, a := range []*Signer{s, e1, e2} {
		sig := a.Sign("ch", exp)
		require.NoError(t, a.Verify("ch", sig, now))
		for j, b := range []*Signer{s, e1, e2} {
			if i != j {
				require.True(t, errors.Is(b.Verify("ch", sig, now), ErrBadSignature), "epoch %d signature accepted by epoch %d", i, j)
			}
		}
	}
}
