package dynamostore

import (
	"testing"

	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return newTestStore(t) })
}
