package broker

import (
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/rocketgo/rocketgo/commitlog/index"
	"github.com/rocketgo/rocketgo/remoting"
)

// Roles and flush types, spelled as in broker.properties.
const (
	MetricsDisable = "DISABLE"
	MetricsProm    = "PROM"

	AsyncMaster = "ASYNC_MASTER"
	SyncMaster  = "SYNC_MASTER"
	Slave       = "SLAVE"
	AsyncFlush  = "ASYNC_FLUSH"
	SyncFlush   = "SYNC_FLUSH"
)

// Config is the broker's configuration; each tag is the RocketMQ
// broker.properties key (see DESIGN.md §3).
type Config struct {
	BrokerClusterName string `prop:"brokerClusterName"`
	BrokerName        string `prop:"brokerName"`
	BrokerID          int64  `prop:"brokerId"` // 0 is the master
	BrokerIP1         string `prop:"brokerIP1"`
	BrokerIP2         string `prop:"brokerIP2"` // advertised for HA; empty = brokerIP1
	ListenPort        int    `prop:"listenPort"`
	HAListenPort      int    `prop:"haListenPort"` // -1 = listenPort+1
	HAMasterAddress   string `prop:"haMasterAddress"`
	NamesrvAddr       string `prop:"namesrvAddr"`
	StorePathRootDir  string `prop:"storePathRootDir"`
	BrokerRole        string `prop:"brokerRole"`    // ASYNC_MASTER | SYNC_MASTER | SLAVE
	FlushDiskType     string `prop:"flushDiskType"` // ASYNC_FLUSH | SYNC_FLUSH

	AutoCreateTopicEnable bool `prop:"autoCreateTopicEnable"`
	// AutoCreateTopicRegisterWait bounds how long a send that created its
	// topic waits for the namesrvs to route it before it is answered.
	AutoCreateTopicRegisterWait time.Duration `prop:"autoCreateTopicRegisterWait"`
	DefaultTopicQueueNums       int32         `prop:"defaultTopicQueueNums"`
	MappedFileSizeCommitLog     int64         `prop:"mappedFileSizeCommitLog"`
	MappedFileSizeConsumeQueue  int64         `prop:"mappedFileSizeConsumeQueue"` // bytes, a multiple of 20
	MaxMessageSize              int32         `prop:"maxMessageSize"`

	FlushIntervalCommitLog      time.Duration `prop:"flushIntervalCommitLog"`
	SyncFlushTimeout            time.Duration `prop:"syncFlushTimeout"`
	RegisterNameServerPeriod    time.Duration `prop:"registerNameServerPeriod"`
	FlushConsumerOffsetInterval time.Duration `prop:"flushConsumerOffsetInterval"`
	ChannelExpiredTimeout       time.Duration `prop:"channelExpiredTimeout"`

	LongPollingEnable                 bool          `prop:"longPollingEnable"`
	ShortPollingTimeMills             time.Duration `prop:"shortPollingTimeMills"`
	MaxTransferCountOnMessageInMemory int           `prop:"maxTransferCountOnMessageInMemory"`
	MaxTransferBytesOnMessageInMemory int           `prop:"maxTransferBytesOnMessageInMemory"`
	ServerWorkerThreads               int           `prop:"serverWorkerThreads"`
	MaxFrameSize                      int           `prop:"frameMaxLength"`
	ServerChannelMaxIdleTimeSeconds   int           `prop:"serverChannelMaxIdleTimeSeconds"`
	MaxPullSuspendTimeout             time.Duration `prop:"maxPullSuspendTimeout"` // caps a pull's suspendTimeoutMillis

	// Memory per client connection: writeBufferHighWaterMark,
	// writeBufferLowWaterMark, serverSlowConsumerTimeout,
	// serverChannelMaxInflightRequests, serverWorkerQueueMaxBytes (see
	// remoting.Limits).
	Limits remoting.Limits

	HATransferBatchSize           int           `prop:"haTransferBatchSize"`
	HASlaveFallbehindMax          int64         `prop:"haSlaveFallbehindMax"`
	HASendHeartbeatInterval       time.Duration `prop:"haSendHeartbeatInterval"`
	HAHousekeepingInterval        time.Duration `prop:"haHousekeepingInterval"`
	HASendTimeout                 time.Duration `prop:"haSendTimeout"` // a slave that takes no byte of a frame this long is dropped
	SlaveReadEnable               bool          `prop:"slaveReadEnable"`
	EnableSlaveActingMaster       bool          `prop:"enableSlaveActingMaster"`       // a slave stands in (read-only) for a dead master in routes
	AccessMessageInMemoryMaxRatio int           `prop:"accessMessageInMemoryMaxRatio"` // % of RAM

	// Controller mode (controlled.go; RocketMQ 5's keys, faster defaults):
	// the controllers embedded in the namesrvs at controllerAddr decide
	// which replica is master. brokerId and brokerRole are initial values;
	// only SYNC (SYNC_MASTER) versus ASYNC is kept.
	EnableControllerMode bool   `prop:"enableControllerMode"`
	ControllerAddr       string `prop:"controllerAddr"` // ';'-separated ip:port
	// allAckInSyncStateSet: a SYNC send waits for every replica of the
	// SyncStateSet, not one slave; minInSyncReplicas: fewer replicas in
	// the set refuse sends (IN_SYNC_REPLICAS_NOT_ENOUGH).
	AllAckInSyncStateSet bool `prop:"allAckInSyncStateSet"`
	MinInSyncReplicas    int  `prop:"minInSyncReplicas"`
	// readUnCommitted lets consumers of a controller-mode master read
	// messages not yet held by every replica of the SyncStateSet (which a
	// failover may take back); by default they see only confirmed ones.
	ReadUnCommitted bool `prop:"readUnCommitted"`
	// A slave stays in the SyncStateSet while it is at most
	// haMaxGapNotInSync bytes behind and held the master's whole log
	// within haMaxTimeSlaveNotCatchup; the master checks every
	// checkSyncStateSetPeriod.
	HAMaxGapNotInSync        int64         `prop:"haMaxGapNotInSync"`
	HAMaxTimeSlaveNotCatchup time.Duration `prop:"haMaxTimeSlaveNotCatchup"`
	CheckSyncStateSetPeriod  time.Duration `prop:"checkSyncStateSetPeriod"`
	// Heartbeats to the controller leader every brokerHeartbeatInterval;
	// the controller counts the broker dead after
	// controllerHeartBeatTimeoutMills without one. The broker asks the
	// controller who is master every syncBrokerMetadataPeriod.
	BrokerHeartbeatInterval    time.Duration `prop:"brokerHeartbeatInterval"`
	ControllerHeartBeatTimeout time.Duration `prop:"controllerHeartBeatTimeoutMills"`
	SyncBrokerMetadataPeriod   time.Duration `prop:"syncBrokerMetadataPeriod"`
	BrokerElectionPriority     int           `prop:"brokerElectionPriority"` // lower wins ties between equally up-to-date replicas

	// Metadata of a slave (metawait.go): a full sync of its master's topics,
	// subscription groups and consumer offsets every metadataSyncInterval,
	// and between them a long poll that the master holds until its topic or
	// group table changes, metadataLongPollTime at most, for at most
	// metadataLongPollMaxHeld slaves' requests at once (SYSTEM_BUSY beyond).
	MetadataSyncInterval    time.Duration `prop:"metadataSyncInterval"`
	MetadataLongPollTime    time.Duration `prop:"metadataLongPollTime"`
	MetadataLongPollMaxHeld int           `prop:"metadataLongPollMaxHeld"`

	// Metrics (metrics.go), switched on as in RocketMQ 5.1. Per-topic and
	// per-(topic, group) series are capped; the excess is counted under
	// topic or consumer_group "_overflow_".
	MetricsExporterType     string `prop:"metricsExporterType"`     // DISABLE | PROM
	MetricsPromExporterHost string `prop:"metricsPromExporterHost"` // default: brokerIP1
	MetricsPromExporterPort int    `prop:"metricsPromExporterPort"` // 0 picks a free port
	MetricsMaxTopicLabels   int    `prop:"metricsMaxTopicLabels"`
	MetricsMaxGroupLabels   int    `prop:"metricsMaxGroupLabels"`
	EnablePprof             bool   `prop:"enablePprof"` // net/http/pprof on the metrics port

	// Retention (BROKER-INTERNALS §10).
	FileReservedTime                 int           `prop:"fileReservedTime"`      // hours a segment is kept after its last write
	DeleteWhen                       string        `prop:"deleteWhen"`            // hours of the day (';' list) when expired segments go
	DiskMaxUsedSpaceRatio            int           `prop:"diskMaxUsedSpaceRatio"` // %: above it expired segments go at any hour
	CleanResourceInterval            time.Duration `prop:"cleanResourceInterval"`
	DeleteCommitLogFilesInterval     time.Duration `prop:"deleteCommitLogFilesInterval"`
	DestroyMapedFileIntervalForcibly time.Duration `prop:"destroyMapedFileIntervalForcibly"`
	CleanFileForciblyEnable          bool          `prop:"cleanFileForciblyEnable"`
	// Java system properties rocketmq.broker.diskSpace…, here broker keys:
	// above the first, unexpired segments go too; above the second, sends
	// are refused until space is freed.
	DiskSpaceCleanForciblyRatio float64 `prop:"diskSpaceCleanForciblyRatio"`
	DiskSpaceWarningLevelRatio  float64 `prop:"diskSpaceWarningLevelRatio"`

	// Access control (RocketMQ 4.x plain ACL; see acl.go).
	AclEnable bool   `prop:"aclEnable"`
	AclFile   string `prop:"rocketmq.acl.plain.file"` // default <storePathRootDir>/config/plain_acl.yml

	MessageDelayLevel string `prop:"messageDelayLevel"` // delay levels 1..n of delayed messages and retries

	// Transaction checks (BROKER-INTERNALS §16.3).
	TransactionCheckInterval time.Duration `prop:"transactionCheckInterval"`
	TransactionTimeOut       time.Duration `prop:"transactionTimeOut"` // a half message younger than this is not checked
	TransactionCheckMax      int           `prop:"transactionCheckMax"`

	// Message index (BROKER-INTERNALS §8, commitlog/index): queries by key
	// and unique key (QUERY_MESSAGE) answer at most maxMsgsNumBatch
	// messages, defaultQueryMaxNum for a unique key.
	MessageIndexEnable bool `prop:"messageIndexEnable"`
	MaxHashSlotNum     int  `prop:"maxHashSlotNum"` // hash slots per index file
	MaxIndexNum        int  `prop:"maxIndexNum"`    // entries per index file
	MaxMsgsNumBatch    int  `prop:"maxMsgsNumBatch"`
	DefaultQueryMaxNum int  `prop:"defaultQueryMaxNum"`

	// TLS, with RocketMQ's TlsSystemConfig names (README "TLS"). The
	// server keys cover the client port; the HA port stays plain TCP, as
	// in RocketMQ.
	TLSServerMode             string        `prop:"tls.server.mode"` // disabled | permissive | enforcing
	TLSServerCertPath         string        `prop:"tls.server.certPath"`
	TLSServerKeyPath          string        `prop:"tls.server.keyPath"`
	TLSServerTrustCertPath    string        `prop:"tls.server.trustCertPath"`          // CAs of client certificates
	TLSServerNeedClientAuth   string        `prop:"tls.server.need.client.auth"`       // none | optional | require
	TLSServerHandshakeTimeout time.Duration `prop:"tls.server.handshakeTimeoutMillis"` // ours: first byte and handshake
	// TLSEnable makes the broker's own connections (namesrv registration,
	// a slave's metadata sync from its master) TLS.
	TLSEnable              bool   `prop:"tls.enable"`
	TLSClientTrustCertPath string `prop:"tls.client.trustCertPath"` // empty: peers' certificates are not verified
	TLSClientCertPath      string `prop:"tls.client.certPath"`      // for peers that require a client certificate
	TLSClientKeyPath       string `prop:"tls.client.keyPath"`
}

// DefaultConfig returns the defaults of DESIGN.md §3 and RocketMQ's own.
func DefaultConfig() Config {
	host, _ := os.Hostname()
	if host == "" {
		host = "broker"
	}
	home, _ := os.UserHomeDir()
	return defaultConfig(host, home)
}

// defaultConfig returns the defaults on a machine named host, for a user
// whose home directory is home.
func defaultConfig(host, home string) Config {
	return Config{
		BrokerClusterName:                 "DefaultCluster",
		BrokerName:                        host,
		BrokerIP1:                         "127.0.0.1",
		ListenPort:                        10911,
		HAListenPort:                      -1,
		StorePathRootDir:                  filepath.Join(home, "store"),
		BrokerRole:                        AsyncMaster,
		FlushDiskType:                     AsyncFlush,
		AutoCreateTopicEnable:             true,
		AutoCreateTopicRegisterWait:       time.Second,
		DefaultTopicQueueNums:             4,
		MappedFileSizeCommitLog:           1 << 30,
		MappedFileSizeConsumeQueue:        300000 * 20,
		MaxMessageSize:                    4 << 20,
		FlushIntervalCommitLog:            500 * time.Millisecond,
		SyncFlushTimeout:                  5 * time.Second,
		RegisterNameServerPeriod:          30 * time.Second,
		FlushConsumerOffsetInterval:       5 * time.Second,
		ChannelExpiredTimeout:             120 * time.Second,
		LongPollingEnable:                 true,
		ShortPollingTimeMills:             time.Second,
		MaxTransferCountOnMessageInMemory: 32,
		MaxTransferBytesOnMessageInMemory: 256 << 10,
		ServerWorkerThreads:               64,
		MaxFrameSize:                      16 << 20,
		ServerChannelMaxIdleTimeSeconds:   120,
		MaxPullSuspendTimeout:             30 * time.Second, // clients ask for 15 s (Java) or 20 s (Go)
		Limits:                            remoting.DefaultLimits(),
		HATransferBatchSize:               256 << 10, // RocketMQ: 32 KiB; see results/ for why larger
		HASlaveFallbehindMax:              256 << 20,
		HASendHeartbeatInterval:           5 * time.Second,
		HAHousekeepingInterval:            20 * time.Second,
		HASendTimeout:                     20 * time.Second,
		SlaveReadEnable:                   true,
		EnableSlaveActingMaster:           true,
		AccessMessageInMemoryMaxRatio:     40,
		MinInSyncReplicas:                 1,
		HAMaxGapNotInSync:                 256 << 20,
		HAMaxTimeSlaveNotCatchup:          3 * time.Second,
		CheckSyncStateSetPeriod:           500 * time.Millisecond,
		BrokerHeartbeatInterval:           500 * time.Millisecond,
		ControllerHeartBeatTimeout:        3 * time.Second,
		SyncBrokerMetadataPeriod:          500 * time.Millisecond,
		MetadataSyncInterval:              10 * time.Second,
		MetadataLongPollTime:              20 * time.Second,
		MetadataLongPollMaxHeld:           64,
		MetricsExporterType:               MetricsDisable,
		MetricsPromExporterPort:           5557,
		MetricsMaxTopicLabels:             1000,
		MetricsMaxGroupLabels:             1000,
		FileReservedTime:                  72,
		DeleteWhen:                        "04",
		DiskMaxUsedSpaceRatio:             75,
		CleanResourceInterval:             10 * time.Second,
		DeleteCommitLogFilesInterval:      100 * time.Millisecond,
		DestroyMapedFileIntervalForcibly:  120 * time.Second,
		CleanFileForciblyEnable:           true,
		DiskSpaceCleanForciblyRatio:       0.85,
		DiskSpaceWarningLevelRatio:        0.90,
		MessageDelayLevel:                 defaultDelayLevels,
		TransactionCheckInterval:          60 * time.Second,
		TransactionTimeOut:                6 * time.Second,
		TransactionCheckMax:               15,
		MessageIndexEnable:                true,
		MaxHashSlotNum:                    index.DefaultHashSlots,
		MaxIndexNum:                       index.DefaultMaxEntries,
		MaxMsgsNumBatch:                   64,
		DefaultQueryMaxNum:                32,
		TLSServerMode:                     "disabled",
		TLSServerNeedClientAuth:           "none",
		TLSServerHandshakeTimeout:         remoting.DefaultHandshakeTimeout,
	}
}

// Validate reports every problem of c, each naming its key.
func (c *Config) Validate() error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	switch c.BrokerRole {
	case AsyncMaster, SyncMaster, Slave:
	default:
		bad("brokerRole=%q: want ASYNC_MASTER, SYNC_MASTER or SLAVE", c.BrokerRole)
	}
	switch c.FlushDiskType {
	case AsyncFlush, SyncFlush:
	default:
		bad("flushDiskType=%q: want ASYNC_FLUSH or SYNC_FLUSH", c.FlushDiskType)
	}
	if c.BrokerID < 0 {
		bad("brokerId=%d: must be 0 (master) or positive (slave)", c.BrokerID)
	}
	if c.EnableControllerMode {
		errs = append(errs, c.validateController()...)
	} else {
		if c.BrokerRole == Slave && c.BrokerID == 0 {
			bad("brokerRole=SLAVE needs brokerId >= 1, got brokerId=0")
		}
		if c.BrokerRole != Slave && c.BrokerID != 0 && c.BrokerRole != "" {
			bad("brokerRole=%s needs brokerId=0, got brokerId=%d", c.BrokerRole, c.BrokerID)
		}
	}
	if c.BrokerClusterName == "" || !validName(c.BrokerClusterName) {
		bad("brokerClusterName=%q: want letters, digits, '-', '_' or '%%'", c.BrokerClusterName)
	}
	if c.BrokerName == "" || !validName(c.BrokerName) {
		bad("brokerName=%q: want letters, digits, '-', '_' or '%%'", c.BrokerName)
	}
	if _, err := netip.ParseAddr(c.BrokerIP1); err != nil {
		bad("brokerIP1=%q: not an IP address", c.BrokerIP1)
	}
	if c.BrokerIP2 != "" {
		if _, err := netip.ParseAddr(c.BrokerIP2); err != nil {
			bad("brokerIP2=%q: not an IP address", c.BrokerIP2)
		}
	}
	if c.ListenPort < 0 || c.ListenPort > 65535 {
		bad("listenPort=%d: want 0..65535", c.ListenPort)
	}
	if c.HAListenPort < -1 || c.HAListenPort > 65535 {
		bad("haListenPort=%d: want 0..65535", c.HAListenPort)
	}
	for _, a := range c.NamesrvAddrs() {
		if _, err := netip.ParseAddrPort(a); err != nil {
			bad("namesrvAddr: %q is not ip:port", a)
		}
	}
	if c.HAMasterAddress != "" {
		if _, err := netip.ParseAddrPort(c.HAMasterAddress); err != nil {
			bad("haMasterAddress=%q: not ip:port", c.HAMasterAddress)
		}
	}
	if c.StorePathRootDir == "" {
		bad("storePathRootDir is empty")
	}
	if c.DefaultTopicQueueNums < 1 || c.DefaultTopicQueueNums > 1024 {
		bad("defaultTopicQueueNums=%d: want 1..1024", c.DefaultTopicQueueNums)
	}
	if c.MappedFileSizeCommitLog < 4096 {
		bad("mappedFileSizeCommitLog=%d: want at least 4096 bytes", c.MappedFileSizeCommitLog)
	}
	if c.MappedFileSizeConsumeQueue < 20 || c.MappedFileSizeConsumeQueue%20 != 0 {
		bad("mappedFileSizeConsumeQueue=%d: want a positive multiple of 20", c.MappedFileSizeConsumeQueue)
	}
	if c.MaxMessageSize < 1 {
		bad("maxMessageSize=%d: must be positive", c.MaxMessageSize)
	}
	if int64(c.MaxMessageSize)+64<<10 > c.MappedFileSizeCommitLog {
		bad("maxMessageSize=%d does not fit in a commit-log segment of mappedFileSizeCommitLog=%d", c.MaxMessageSize, c.MappedFileSizeCommitLog)
	}
	if c.FlushIntervalCommitLog <= 0 {
		bad("flushIntervalCommitLog must be positive")
	}
	if c.SyncFlushTimeout <= 0 {
		bad("syncFlushTimeout must be positive")
	}
	if c.RegisterNameServerPeriod < time.Second {
		bad("registerNameServerPeriod=%v: want at least 1s", c.RegisterNameServerPeriod)
	}
	if c.FlushConsumerOffsetInterval <= 0 {
		bad("flushConsumerOffsetInterval must be positive")
	}
	if c.ChannelExpiredTimeout <= 0 {
		bad("channelExpiredTimeout must be positive")
	}
	if c.ShortPollingTimeMills <= 0 {
		bad("shortPollingTimeMills must be positive")
	}
	if c.MaxTransferCountOnMessageInMemory < 1 {
		bad("maxTransferCountOnMessageInMemory must be at least 1")
	}
	if c.MaxTransferBytesOnMessageInMemory < 1 {
		bad("maxTransferBytesOnMessageInMemory must be at least 1")
	}
	if c.ServerWorkerThreads < 1 {
		bad("serverWorkerThreads must be at least 1")
	}
	if c.ServerChannelMaxIdleTimeSeconds < 1 {
		bad("serverChannelMaxIdleTimeSeconds=%d: must be at least 1", c.ServerChannelMaxIdleTimeSeconds)
	}
	if c.MaxFrameSize < 1024 {
		bad("frameMaxLength=%d: want at least 1024", c.MaxFrameSize)
	}
	if c.MaxPullSuspendTimeout <= 0 {
		bad("maxPullSuspendTimeout must be positive")
	}
	if err := c.Limits.Validate(c.MaxFrameSize); err != nil {
		errs = append(errs, err)
	}
	if c.HATransferBatchSize < 1024 || c.HATransferBatchSize > 16<<20 {
		bad("haTransferBatchSize=%d: want 1024..16777216", c.HATransferBatchSize)
	}
	if c.HASlaveFallbehindMax < 1 {
		bad("haSlaveFallbehindMax must be positive")
	}
	if c.HASendHeartbeatInterval <= 0 || c.HAHousekeepingInterval <= c.HASendHeartbeatInterval {
		bad("haHousekeepingInterval=%v must exceed haSendHeartbeatInterval=%v (both positive)", c.HAHousekeepingInterval, c.HASendHeartbeatInterval)
	}
	if c.HASendTimeout <= 0 {
		bad("haSendTimeout must be positive")
	}
	if c.AccessMessageInMemoryMaxRatio < 0 || c.AccessMessageInMemoryMaxRatio > 100 {
		bad("accessMessageInMemoryMaxRatio=%d: want 0..100", c.AccessMessageInMemoryMaxRatio)
	}
	if c.MetadataSyncInterval < 100*time.Millisecond {
		bad("metadataSyncInterval=%v: want at least 100ms", c.MetadataSyncInterval)
	}
	if c.MetadataLongPollTime <= 0 || c.MetadataLongPollTime >= time.Duration(c.ServerChannelMaxIdleTimeSeconds)*time.Second {
		bad("metadataLongPollTime=%v: want positive and below serverChannelMaxIdleTimeSeconds=%d", c.MetadataLongPollTime, c.ServerChannelMaxIdleTimeSeconds)
	}
	if c.AutoCreateTopicRegisterWait < 0 || c.AutoCreateTopicRegisterWait > registerTimeout {
		bad("autoCreateTopicRegisterWait=%v: want 0..%v (0: answer without waiting)", c.AutoCreateTopicRegisterWait, registerTimeout)
	}
	if c.MetadataLongPollMaxHeld < 1 {
		bad("metadataLongPollMaxHeld=%d: want at least 1", c.MetadataLongPollMaxHeld)
	}
	switch c.MetricsExporterType {
	case MetricsDisable, MetricsProm:
	default:
		bad("metricsExporterType=%q: want %s or %s (RocketMQ's OTLP_GRPC and LOG exporters are not supported)", c.MetricsExporterType, MetricsDisable, MetricsProm)
	}
	if c.MetricsPromExporterPort < 0 || c.MetricsPromExporterPort > 65535 {
		bad("metricsPromExporterPort=%d: want 0..65535 (0 picks a free port)", c.MetricsPromExporterPort)
	}
	if c.MetricsMaxTopicLabels < 1 {
		bad("metricsMaxTopicLabels=%d: want at least 1", c.MetricsMaxTopicLabels)
	}
	if c.MetricsMaxGroupLabels < 1 {
		bad("metricsMaxGroupLabels=%d: want at least 1", c.MetricsMaxGroupLabels)
	}
	if c.FileReservedTime < 0 {
		bad("fileReservedTime=%d: want hours >= 0", c.FileReservedTime)
	}
	if _, err := parseDeleteWhen(c.DeleteWhen); err != nil {
		bad("deleteWhen=%q: %v", c.DeleteWhen, err)
	}
	if c.DiskMaxUsedSpaceRatio < 1 || c.DiskMaxUsedSpaceRatio > 100 {
		bad("diskMaxUsedSpaceRatio=%d: want a percentage (RocketMQ clamps it to 10..95)", c.DiskMaxUsedSpaceRatio)
	}
	if c.CleanResourceInterval <= 0 {
		bad("cleanResourceInterval must be positive")
	}
	if c.DeleteCommitLogFilesInterval < 0 {
		bad("deleteCommitLogFilesInterval must not be negative")
	}
	if c.DestroyMapedFileIntervalForcibly <= 0 {
		bad("destroyMapedFileIntervalForcibly must be positive")
	}
	if c.DiskSpaceCleanForciblyRatio <= 0 || c.DiskSpaceCleanForciblyRatio > 1 {
		bad("diskSpaceCleanForciblyRatio=%v: want a fraction in (0, 1]", c.DiskSpaceCleanForciblyRatio)
	}
	if _, err := parseDelayLevels(c.MessageDelayLevel); err != nil {
		bad("messageDelayLevel=%q: %v", c.MessageDelayLevel, err)
	}
	if c.TransactionCheckInterval <= 0 {
		bad("transactionCheckInterval must be positive")
	}
	if c.TransactionTimeOut < 0 {
		bad("transactionTimeOut must not be negative")
	}
	if c.TransactionCheckMax < 1 {
		bad("transactionCheckMax=%d: want at least 1", c.TransactionCheckMax)
	}
	if err := index.CheckGeometry(c.MaxHashSlotNum, c.MaxIndexNum); err != nil {
		errs = append(errs, err)
	}
	if c.MaxMsgsNumBatch < 1 || c.DefaultQueryMaxNum < 1 {
		bad("maxMsgsNumBatch=%d and defaultQueryMaxNum=%d: want at least 1 each", c.MaxMsgsNumBatch, c.DefaultQueryMaxNum)
	}
	if c.DiskSpaceWarningLevelRatio <= 0 || c.DiskSpaceWarningLevelRatio > 1 {
		bad("diskSpaceWarningLevelRatio=%v: want a fraction in (0, 1]", c.DiskSpaceWarningLevelRatio)
	}
	if err := c.tlsServer().Check(); err != nil {
		errs = append(errs, err)
	}
	if err := c.tlsClient().Check(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Resolved returns c with the settings whose default is another's value
// set to what the broker uses: haListenPort -1 (listenPort+1, or 0 when
// listenPort is 0), an empty brokerIP2 (brokerIP1), an empty
// rocketmq.acl.plain.file (<storePathRootDir>/config/plain_acl.yml) and
// writeBufferLowWaterMark 0 (half the high-water mark). The startup log
// shows these values, not -1, empty or 0.
func (c Config) Resolved() Config {
	if c.HAListenPort == -1 {
		c.HAListenPort = 0
		if c.ListenPort != 0 {
			c.HAListenPort = c.ListenPort + 1
		}
	}
	if c.BrokerIP2 == "" {
		c.BrokerIP2 = c.BrokerIP1
	}
	if c.AclFile == "" {
		c.AclFile = filepath.Join(configDir(c.StorePathRootDir), "plain_acl.yml")
	}
	if c.Limits.LowWater == 0 {
		c.Limits.LowWater = c.Limits.HighWater / 2
	}
	return c
}

func (c *Config) tlsServer() remoting.TLSServerSettings {
	return remoting.TLSServerSettings{
		Mode:             c.TLSServerMode,
		CertPath:         c.TLSServerCertPath,
		KeyPath:          c.TLSServerKeyPath,
		TrustCertPath:    c.TLSServerTrustCertPath,
		NeedClientAuth:   c.TLSServerNeedClientAuth,
		HandshakeTimeout: c.TLSServerHandshakeTimeout,
	}
}

func (c *Config) tlsClient() remoting.TLSClientSettings {
	return remoting.TLSClientSettings{
		TrustCertPath: c.TLSClientTrustCertPath,
		CertPath:      c.TLSClientCertPath,
		KeyPath:       c.TLSClientKeyPath,
	}
}

// NamesrvAddrs splits namesrvAddr on ';'.
func (c *Config) NamesrvAddrs() []string { return splitAddrs(c.NamesrvAddr) }

// ControllerAddrs splits controllerAddr on ';'.
func (c *Config) ControllerAddrs() []string { return splitAddrs(c.ControllerAddr) }

func splitAddrs(list string) []string {
	var out []string
	for _, a := range strings.Split(list, ";") {
		if a = strings.TrimSpace(a); a != "" {
			out = append(out, a)
		}
	}
	return out
}

// validateController checks the controller-mode keys.
func (c *Config) validateController() []error {
	var errs []error
	bad := func(format string, args ...any) { errs = append(errs, fmt.Errorf(format, args...)) }
	addrs := c.ControllerAddrs()
	if len(addrs) == 0 {
		bad("enableControllerMode=true needs controllerAddr (the namesrvs' ip:port, ';'-separated)")
	}
	for _, a := range addrs {
		if _, err := netip.ParseAddrPort(a); err != nil {
			bad("controllerAddr: %q is not ip:port", a)
		}
	}
	if c.HAMasterAddress != "" {
		bad("haMasterAddress=%q: not used in controller mode (the controller names the master); leave it empty", c.HAMasterAddress)
	}
	if c.MinInSyncReplicas < 1 {
		bad("minInSyncReplicas=%d: want at least 1", c.MinInSyncReplicas)
	}
	if c.HAMaxGapNotInSync < 1 {
		bad("haMaxGapNotInSync=%d: want a positive number of bytes", c.HAMaxGapNotInSync)
	}
	for _, d := range []struct {
		key string
		v   time.Duration
	}{
		{"haMaxTimeSlaveNotCatchup", c.HAMaxTimeSlaveNotCatchup},
		{"checkSyncStateSetPeriod", c.CheckSyncStateSetPeriod},
		{"brokerHeartbeatInterval", c.BrokerHeartbeatInterval},
		{"syncBrokerMetadataPeriod", c.SyncBrokerMetadataPeriod},
	} {
		if d.v < 10*time.Millisecond {
			bad("%s=%v: want at least 10ms", d.key, d.v)
		}
	}
	if c.ControllerHeartBeatTimeout <= c.BrokerHeartbeatInterval {
		bad("controllerHeartBeatTimeoutMills=%v must exceed brokerHeartbeatInterval=%v", c.ControllerHeartBeatTimeout, c.BrokerHeartbeatInterval)
	}
	return errs
}

func validName(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_' || c == '%' || c == '|') {
			return false
		}
	}
	return true
}
