package main

import (
	"testing"

	"github.com/stretchr/testify/require"
)

func TestIsPrecise(t *testing.T) {
	tests := []struct {
		n, k, want int
	}{
		{100, 200, 100},
		{100, 0, 100},
		{1000, 200, 200},
		{5000, 200, 200},
		{300, 200, 150},
		{1001, 200, 167},
	}
	for _, tt := range tests {
		got := 0
		for i := range tt.n {
			if isPrecise(i, tt.n, tt.k) {
				got++
			}
		}
		require.Equal(t, tt.want, got, "n=%d k=%d", tt.n, tt.k)
	}
}
