package broker

import "github.com/rocketgo/rocketgo/internal/wire"

// Message property names (REMOTING.md §6.5).
const (
	propTags            = "TAGS"
	propKeys            = "KEYS"
	propUniqKey         = "UNIQ_KEY"
	propDelay           = "DELAY"
	propWait            = "WAIT"
	propRealTopic       = "REAL_TOPIC"
	propRealQueueID     = "REAL_QID"
	propRetryTopic      = "RETRY_TOPIC"
	propOriginMessageID = "ORIGIN_MESSAGE_ID"
	propMaxReconsume    = "MAX_RECONSUME_TIMES"
	propCluster         = "CLUSTER"
	propTranMsg         = "TRAN_MSG"
)

// The properties codec and offset message ids are internal/wire's; the
// handlers use them under these names.
const propertySep = wire.PairSeparator

var (
	property        = wire.Property        // the value of a name in a properties string
	withProperty    = wire.WithProperty    // props with name set to value
	withoutProperty = wire.WithoutProperty // props without the pairs named name
	offsetMsgID     = wire.OffsetMsgID     // store host + commit-log offset, upper-case hex (REMOTING.md §6.6)
)
