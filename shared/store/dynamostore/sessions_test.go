package dynamostore

import (
	"fmt"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
	"github.com/stretchr/testify/require"

	"github.com/livestack/livestack/shared/store"
)

// rawItem reads an item as stored.
func rawItem(t *testing.T, client *dynamodb.Client, table string, k keys) map[string]types.AttributeValue {
	t.Helper()
	out, err := client.GetItem(t.Context(), &dynamodb.GetItemInput{
		TableName: aws.String(table), Key: k.primary(), ConsistentRead: aws.Bool(true),
	})
	require.NoError(t, err)
	return out.Item
}

func attrS(t *testing.T, item map[string]types.AttributeValue, name string) string {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberS)
	require.True(t, ok, "attribute %s is %T, want a string", name, item[name])
	return v.Value
}

func attrN(t *testing.T, item map[string]types.AttributeValue, name string) int64 {
	t.Helper()
	v, ok := item[name].(*types.AttributeValueMemberN)
	require.True(t, ok, "attribute %s is %T, want a number", name, item[name])
	n, err := strconv.ParseInt(v.Value, 10, 64)
	require.NoError(t, err)
	return n
}

func testSession(channelID, sessionID, region, gateway string, started time.Time, lease time.Duration) store.Session {
	return store.Session{
		ChannelID: channelID, SessionID: sessionID, Gateway: gateway, Region: region,
		StartedAt: started, ExpiresAt: started.Add(lease),
	}
}

// TestSessionItem pins what DynamoDB itself relies on: the TTL attribute in
// epoch seconds (rounded up, so the item is never deleted before its lease
// ends), the region, and the index keys.
func TestSessionItem(t *testing.T) {
	client, table := newTable(t)
	s, err := New(t.Context(), Config{Table: table, Client: client})
	require.NoError(t, err)
	ctx := t.Context()

	cases := []struct {
		name    string
		expires time.Time
		wantTTL int64
	}{
		{"whole second", time.Unix(1_900_000_000, 0), 1_900_000_000},
		{"rounded up", time.Unix(1_900_000_000, 1_000_000), 1_900_000_001},
		{"just under a second", time.Unix(1_900_000_000, 999_000_000), 1_900_000_001},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ch := fmt.Sprintf("ch%d", i)
			sess := testSession(ch, "s1", "ap-southeast-1", "10.0.3.7:8080", tc.expires.Add(-time.Hour), time.Hour)
			require.NoError(t, s.AcquireSession(ctx, sess))
			item := rawItem(t, client, table, sessionKeys(ch, "", ""))
			require.Equal(t, tc.wantTTL, attrN(t, item, attrTTL))
			require.Equal(t, tc.expires.UnixMilli(), attrN(t, item, "expiresAt"))
			require.Equal(t, "ap-southeast-1", attrS(t, item, "region"))
			require.Equal(t, "10.0.3.7:8080", attrS(t, item, "gateway"))
			require.Equal(t, typeSession, attrS(t, item, "type"))
			require.Equal(t, "CHANNEL#"+ch, attrS(t, item, attrPK))
			require.Equal(t, "SESSION", attrS(t, item, attrSK))
			require.Equal(t, "SESSIONS", attrS(t, item, attrGSI1PK))
			require.Equal(t, "GATEWAY#ap-southeast-1#10.0.3.7:8080", attrS(t, item, attrGSI2PK))
			require.Equal(t, ch, attrS(t, item, attrGSI2SK))
		})
	}

	t.Run("limits", func(t *testing.T) {
		now := time.Now()
		long := testSession("ch", "s1", "eu-west-1", string(make([]byte, MaxGatewayLength+1)), now, time.Hour)
		require.ErrorIs(t, s.AcquireSession(ctx, long), store.ErrInvalid)
		region := testSession("ch", "s1", string(make([]byte, MaxRegionLength+1)), "g", now, time.Hour)
		require.ErrorIs(t, s.AcquireSession(ctx, region), store.ErrInvalid)
		notUTF8 := testSession("ch", "s\xff", "eu-west-1", "g", now, time.Hour)
		require.ErrorIs(t, s.AcquireSession(ctx, notUTF8), store.ErrInvalid)
		_, err := s.GetSession(ctx, "ch")
		require.ErrorIs(t, err, store.ErrNotFound)
	})
}

// TestAcquireAcrossGateways races two Store instances, each with its own
// client, on one table, as two gateways would.
func TestAcquireAcrossGateways(t *testing.T) {
	_, table := newTable(t)
	endpoint := needDynalite(t)
	gateways := make([]*Store, 2)
	for i := range gateways {
		s, err := New(t.Context(), Config{Table: table, Client: newClient(endpoint)})
		require.NoError(t, err)
		gateways[i] = s
	}
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	const rounds, contenders = 10, 10

	for round := range rounds {
		ch := fmt.Sprintf("ch%d", round)
		errs := make([]error, contenders)
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range contenders {
			wg.Go(func() {
				<-start
				gw := gateways[i%2]
				sess := testSession(ch, fmt.Sprintf("s%d", i), "eu-west-1", fmt.Sprintf("10.0.0.%d:8080", i%2), now, time.Minute)
				errs[i] = gw.AcquireSession(ctx, sess)
			})
		}
		close(start)
		wg.Wait()
		winner := -1
		for i, err := range errs {
			if err == nil {
				require.Equal(t, -1, winner, "round %d: sessions %d and %d both acquired %s", round, winner, i, ch)
				winner = i
				continue
			}
			require.ErrorIs(t, err, store.ErrLive)
		}
		require.NotEqual(t, -1, winner, "round %d: nobody acquired", round)
		// Both gateways see the winner.
		for _, gw := range gateways {
			got, err := gw.GetSession(ctx, ch)
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("s%d", winner), got.SessionID)
		}
	}

	// A gateway whose clock says the lease has ended takes the channel over;
	// the old holder can then neither renew nor release it.
	held := testSession("takeover", "old", "eu-west-1", "10.0.0.0:8080", now, time.Minute)
	require.NoError(t, gateways[0].AcquireSession(ctx, held))
	fresh := testSession("takeover", "new", "eu-central-1", "10.0.0.1:8080", now.Add(2*time.Minute), time.Minute)
	require.ErrorIs(t, gateways[1].AcquireSession(ctx, fresh), store.ErrLive, "lease still runs")
	gateways[1].now = func() time.Time { return now.Add(2 * time.Minute) }
	require.NoError(t, gateways[1].AcquireSession(ctx, fresh), "lease has ended by this clock")
	gateways[0].now = gateways[1].now
	require.ErrorIs(t, gateways[0].AcquireSession(ctx, testSession("takeover", "old", "eu-west-1", "10.0.0.0:8080", now.Add(2*time.Minute), time.Minute)), store.ErrLive)
	require.NoError(t, gateways[0].ReleaseSession(ctx, "takeover", "old"))
	got, err := gateways[0].GetSession(ctx, "takeover")
	require.NoError(t, err)
	require.Equal(t, "new", got.SessionID)
	require.Equal(t, "eu-central-1", got.Region)
}

func TestSessionsOnGateway(t *testing.T) {
	s := newTestStore(t)
	ctx := t.Context()
	now := time.Now().Truncate(time.Millisecond)
	const addr = "10.0.3.7:8080"

	for _, sess := range []store.Session{
		testSession("c", "s-c", "eu-west-1", addr, now, time.Hour),
		testSession("a", "s-a", "eu-west-1", addr, now, time.Hour),
		testSession("b", "s-b", "ap-southeast-1", addr, now, time.Hour), // same address, other region
		testSession("d", "s-d", "eu-west-1", "10.0.3.8:8080", now, time.Hour),
		testSession("old", "s-old", "eu-west-1", addr, now.Add(-2*time.Hour), time.Hour), // expired
		testSession("gone", "s-gone", "eu-west-1", addr, now, time.Hour),
		testSession("moved", "s-moved", "eu-west-1", addr, now, time.Hour),
	} {
		require.NoError(t, s.AcquireSession(ctx, sess))
	}
	require.NoError(t, s.ReleaseSession(ctx, "gone", "s-gone"))
	// A renewal through another gateway moves the session's index entry.
	require.NoError(t, s.AcquireSession(ctx, testSession("moved", "s-moved", "eu-west-1", "10.0.3.8:8080", now, time.Hour)))

	channels := func(region, address string) []string {
		t.Helper()
		sessions, err := s.SessionsOnGateway(ctx, region, address)
		require.NoError(t, err)
		var out []string
		for _, sess := range sessions {
			require.Equal(t, region, sess.Region)
			require.Equal(t, address, sess.Gateway)
			out = append(out, sess.ChannelID)
		}
		return out
	}
	require.Equal(t, []string{"a", "c"}, channels("eu-west-1", addr))
	require.Equal(t, []string{"b"}, channels("ap-southeast-1", addr))
	require.Equal(t, []string{"d", "moved"}, channels("eu-west-1", "10.0.3.8:8080"))
	require.Empty(t, channels("us-east-1", addr))
	require.Empty(t, channels("eu-west-1", "10.0.3.7"), "addresses are exact")
}
