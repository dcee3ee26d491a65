package remoting

// Request codes (RocketMQ RequestCode). Names keep RocketMQ's spelling.
const (
	SendMessage                      = 10
	PullMessage                      = 11
	QueryMessage                     = 12
	QueryBrokerOffset                = 13
	QueryConsumerOffset              = 14
	UpdateConsumerOffset             = 15
	UpdateAndCreateTopic             = 17
	GetAllTopicConfig                = 21
	UpdateBrokerConfig               = 25
	GetBrokerRuntimeInfo             = 28
	SearchOffsetByTimestamp          = 29
	GetMaxOffset                     = 30
	GetMinOffset                     = 31
	GetEarliestMsgStoretime          = 32
	ViewMessageByID                  = 33
	HeartBeat                        = 34
	UnregisterClient                 = 35
	ConsumerSendMsgBack              = 36
	EndTransaction                   = 37
	GetConsumerListByGroup           = 38
	CheckTransactionState            = 39
	NotifyConsumerIdsChanged         = 40
	LockBatchMQ                      = 41
	UnlockBatchMQ                    = 42
	GetAllConsumerOffset             = 43
	GetAllDelayOffset                = 45
	PutKVConfig                      = 100
	GetKVConfig                      = 101
	DeleteKVConfig                   = 102
	RegisterBroker                   = 103
	UnregisterBroker                 = 104
	GetRouteinfoByTopic              = 105
	GetBrokerClusterInfo             = 106
	UpdateAndCreateSubscriptionGroup = 200
	GetAllSubscriptionGroupConfig    = 201
	GetTopicStatsInfo                = 202
	GetConsumerConnectionList        = 203
	GetProducerConnectionList        = 204
	WipeWritePermOfBroker            = 205
	GetAllTopicListFromNameserver    = 206
	DeleteSubscriptionGroup          = 207
	GetConsumeStats                  = 208
	DeleteTopicInBroker              = 215
	DeleteTopicInNamesrv             = 216
	ResetConsumerClientOffset        = 220
	GetConsumerStatusFromClient      = 221
	InvokeBrokerToResetOffset        = 222
	GetConsumerRunningInfo           = 307
	ConsumeMessageDirectly           = 309
	SendMessageV2                    = 310
	SendBatchMessage                 = 320
	QueryDataVersion                 = 322
	SendReplyMessage                 = 324
	SendReplyMessageV2               = 325
	PushReplyMessageToClient         = 326

	// RocketMQ 5's controller (BROKER-INTERNALS §19).
	BrokerHeartbeat             = 904
	ControllerAlterSyncStateSet = 1001
	ControllerElectMaster       = 1002
	ControllerRegisterBroker    = 1003
	ControllerGetReplicaInfo    = 1004
	ControllerGetMetadataInfo   = 1005
	ControllerGetSyncStateData  = 1006
	GetBrokerEpochCache         = 1007
	NotifyBrokerRoleChanged     = 1008
	ControllerGetNextBrokerID   = 1012
	ControllerApplyBrokerID     = 1013
)

// Response codes (RocketMQ ResponseCode and RemotingSysResponseCode).
const (
	Success                   = 0
	SystemError               = 1
	SystemBusy                = 2
	RequestCodeNotSupported   = 3
	TransactionFailed         = 4
	FlushDiskTimeout          = 10
	SlaveNotAvailable         = 11
	FlushSlaveTimeout         = 12
	MessageIllegal            = 13
	ServiceNotAvailable       = 14
	VersionNotSupported       = 15
	NoPermission              = 16
	TopicNotExist             = 17
	TopicExistAlready         = 18
	PullNotFound              = 19
	PullRetryImmediately      = 20
	PullOffsetMoved           = 21
	QueryNotFound             = 22
	SubscriptionParseFailed   = 23
	SubscriptionNotExist      = 24
	SubscriptionNotLatest     = 25
	SubscriptionGroupNotExist = 26
	InvalidParameter          = 29

	// The controller's.
	ControllerFencedMasterEpoch       = 2000
	ControllerFencedSyncStateSetEpoch = 2001
	ControllerInvalidMaster           = 2002
	ControllerInvalidReplicas         = 2003
	ControllerMasterNotAvailable      = 2004
	ControllerInvalidRequest          = 2005
	ControllerBrokerNotAlive          = 2006
	ControllerNotLeader               = 2007
	ControllerBrokerMetadataNotExist  = 2008
)
