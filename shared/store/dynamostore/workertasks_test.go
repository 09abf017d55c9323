package dynamostore

import (
	"testing"

	"github.com/livestack/livestack/shared/store"
	"github.com/livestack/livestack/shared/store/storetest"
)

func TestWorkerTasksContract(t *testing.T) {
	storetest.RunWorkerTasks(t, func(t *testing.T) store.WorkerTasks {
		s := newTestStore(t)
		t.Cleanup(func() { _ = s.Close() })
		return s
	})
}
