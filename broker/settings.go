package broker

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/rocketgo/rocketgo/internal/props"
)

// Setting documents one broker.properties key. Settings lists every key of
// Config; `bin/broker -h` and the README's table of settings are rendered
// from it, each with its default read from a Config (DefaultConfig), so
// none of them is written twice.
type Setting struct {
	Key     string
	Meaning string
	Allowed string // the values Validate accepts
}

// Settings lists the keys of Config in the order the README shows them,
// related keys together.
var Settings = []Setting{
	{"brokerClusterName", "cluster the broker registers under", "letters, digits, `-`, `_`, `%`"},
	{"brokerName", "name of the broker group: its master and slaves share it", "letters, digits, `-`, `_`, `%`"},
	{"brokerId", "0 for the master, 1 or more for a slave", "0 unless brokerRole=SLAVE, then ≥ 1"},
	{"brokerRole", "ASYNC_MASTER answers a send once stored; SYNC_MASTER once a slave holds it too; SLAVE replicates its master and serves reads",
		"ASYNC_MASTER, SYNC_MASTER, SLAVE"},
	{"flushDiskType", "ASYNC_FLUSH flushes every flushIntervalCommitLog; SYNC_FLUSH answers a send once it is on disk (group commit)",
		"ASYNC_FLUSH, SYNC_FLUSH"},
	{"brokerIP1", "address the client port binds, advertised to clients and namesrvs", "an IP address"},
	{"listenPort", "client port (producers, consumers, mqadmin); 0 picks a free port", "0..65535"},
	{"brokerIP2", "address the HA port binds, advertised to slaves; empty: brokerIP1", "an IP address or empty"},
	{"haListenPort", "master: replication (HA) port; -1: listenPort+1 (a free port when listenPort is 0); 0 picks a free port", "-1..65535"},
	{"haMasterAddress", "slave: its master's HA address; empty: learned from the namesrvs", "ip:port or empty"},
	{"namesrvAddr", "namesrvs the broker registers with; empty: none", "`;`-separated ip:port list"},
	{"registerNameServerPeriod", "period of the registration with every namesrv (ms)", "≥ 1000"},
	{"storePathRootDir", "data directory: `commitlog/`, `consumequeue/`, `config/*.json`", "a directory path"},
	{"autoCreateTopicEnable", "a send to an unknown topic creates it (else TOPIC_NOT_EXIST)", "true, false"},
	{"autoCreateTopicRegisterWait", "longest a send that created its topic waits for the namesrvs to route it before it is answered, so a consumer started after SEND_OK finds the topic (ms)", "0..6000 (0: no wait)"},
	{"defaultTopicQueueNums", "queues of a topic created on its first send", "1..1024"},
	{"mappedFileSizeCommitLog", "CommitLog segment file size (bytes)", "≥ 4096 and ≥ maxMessageSize + 65536"},
	{"mappedFileSizeConsumeQueue", "consume-queue file size (bytes; 20 per message)", "a positive multiple of 20"},
	{"maxMessageSize", "largest message body (bytes)", "≥ 1"},
	{"flushIntervalCommitLog", "ASYNC_FLUSH: period of the CommitLog flush (ms)", "> 0"},
	{"syncFlushTimeout", "longest a send waits for its flush (SYNC_FLUSH, then FLUSH_DISK_TIMEOUT) or for a slave (SYNC_MASTER, then FLUSH_SLAVE_TIMEOUT) (ms)", "> 0"},
	{"flushConsumerOffsetInterval", "period at which consumer offsets are written to config/consumerOffset.json (ms)", "> 0"},
	{"channelExpiredTimeout", "a consumer not heard from (heartbeat) this long leaves its group (ms)", "> 0"},
	{"longPollingEnable", "a pull that finds nothing is held until a message arrives (up to its suspend time); false: for shortPollingTimeMills", "true, false"},
	{"shortPollingTimeMills", "longPollingEnable=false: how long a pull that finds nothing is held (ms)", "> 0"},
	{"maxPullSuspendTimeout", "longest a pull is held, whatever its suspendTimeoutMillis (ms)", "> 0"},
	{"maxTransferCountOnMessageInMemory", "most messages one pull returns", "≥ 1"},
	{"maxTransferBytesOnMessageInMemory", "most bytes one pull returns (a larger first message still goes)", "≥ 1"},
	{"serverWorkerThreads", "goroutines serving the requests that do not run on the event loops (pulls, admin)", "≥ 1"},
	{"frameMaxLength", "largest request frame accepted (bytes)", "≥ 1024"},
	{"serverChannelMaxIdleTimeSeconds", "a connection that sends and is sent nothing this long is closed (seconds)", "≥ 1"},
	{"writeBufferHighWaterMark", "bytes of answers queued for a connection at which the server stops reading its requests", "≥ 4096"},
	{"writeBufferLowWaterMark", "bytes of answers queued below which it reads them again; 0: half of writeBufferHighWaterMark", "0..writeBufferHighWaterMark"},
	{"serverSlowConsumerTimeout", "a connection whose peer takes no byte of the answers queued for it this long is closed as a slow consumer (ms)", "> 0"},
	{"serverChannelMaxInflightRequests", "requests of one connection being served or held (long polls, sends waiting for a flush or a slave); more get SYSTEM_BUSY", "≥ 1"},
	{"serverWorkerQueueMaxBytes", "bytes of requests the server holds: waiting for a worker (more get SYSTEM_BUSY), and requests over 64 KiB until answered (more wait unread)", "≥ frameMaxLength"},
	{"haTransferBatchSize", "largest replication frame (bytes; RocketMQ's default is 32 KiB)", "1024..16777216"},
	{"haSlaveFallbehindMax", "SYNC_MASTER: a slave further behind than this (bytes) does not count; sends get SLAVE_NOT_AVAILABLE", "≥ 1"},
	{"haSendHeartbeatInterval", "slave: period of its offset reports to the master (ms)", "> 0"},
	{"haHousekeepingInterval", "a replication connection silent this long is closed (ms)", "> haSendHeartbeatInterval"},
	{"haSendTimeout", "master: a slave that takes no byte of a replication frame this long is dropped (ms)", "> 0"},
	{"slaveReadEnable", "the master sends a consumer reading further back than accessMessageInMemoryMaxRatio to a slave", "true, false"},
	{"accessMessageInMemoryMaxRatio", "% of RAM: how far back a consumer may read from the master (slaveReadEnable)", "0..100"},
	{"enableSlaveActingMaster", "a slave stands in, read-only, for its dead master in the namesrvs' routes", "true, false"},
	{"enableControllerMode", "controller mode: the controllers embedded in the namesrvs (controllerAddr) elect the master; brokerId and brokerRole are initial values, only SYNC_MASTER versus ASYNC_MASTER counts", "true, false"},
	{"controllerAddr", "controller mode: the namesrvs running controllers", "`;`-separated ip:port list"},
	{"allAckInSyncStateSet", "controller mode, SYNC_MASTER: a send is answered once every replica of the SyncStateSet holds it (else one slave)", "true, false"},
	{"minInSyncReplicas", "controller mode: with fewer replicas in the SyncStateSet, sends are refused (IN_SYNC_REPLICAS_NOT_ENOUGH)", "≥ 1"},
	{"readUnCommitted", "controller mode: consumers of the master may read messages not yet held by every replica of the SyncStateSet (a failover may take them back); off, they see up to RocketMQ's confirmOffset", "true, false"},
	{"haMaxGapNotInSync", "controller mode: a slave further behind than this (bytes) leaves the SyncStateSet", "≥ 1"},
	{"haMaxTimeSlaveNotCatchup", "controller mode: a slave that has not held the master's whole log for this long leaves the SyncStateSet (ms)", "≥ 10"},
	{"checkSyncStateSetPeriod", "controller mode: how often the master reviews its SyncStateSet (ms)", "≥ 10"},
	{"brokerHeartbeatInterval", "controller mode: period of the heartbeats to the controller leader (ms)", "≥ 10"},
	{"controllerHeartBeatTimeoutMills", "controller mode: the controller counts the broker dead after this long without a heartbeat, and elects another master (ms)", "> brokerHeartbeatInterval"},
	{"syncBrokerMetadataPeriod", "controller mode: how often the broker asks the controller who is master (ms)", "≥ 10"},
	{"brokerElectionPriority", "controller mode: between equally up-to-date replicas, the lower value is elected", "an integer"},
	{"metadataSyncInterval", "slave: period of the full sync of topics, subscription groups and consumer offsets from its master; between them it long-polls the master, which answers when a table changes (ms)", "≥ 100"},
	{"metadataLongPollTime", "master: longest it holds a slave's metadata long poll (ms)", "> 0 and < serverChannelMaxIdleTimeSeconds"},
	{"metadataLongPollMaxHeld", "master: slaves' metadata long polls held at once; more get SYSTEM_BUSY", "≥ 1"},
	{"metricsExporterType", "PROM serves Prometheus metrics (RocketMQ 5.1 names) on metricsPromExporterHost:Port; DISABLE serves none", "DISABLE, PROM"},
	{"metricsPromExporterHost", "address the metrics endpoint binds; empty: brokerIP1", "an IP address or empty"},
	{"metricsPromExporterPort", "metrics endpoint port (GET /metrics); 0 picks a free port", "0..65535"},
	{"metricsMaxTopicLabels", "topics with series of their own; more are counted under topic _overflow_", "≥ 1"},
	{"metricsMaxGroupLabels", "(topic, consumer group) pairs with series of their own; more are counted under _overflow_", "≥ 1"},
	{"enablePprof", "serve net/http/pprof under /debug/pprof/ on the metrics port", "true, false"},
	{"fileReservedTime", "hours a CommitLog segment is kept after its last write", "≥ 0"},
	{"deleteWhen", "hours of the day when expired segments are deleted", "`;`-separated hours 0..23, like 04 or 02;14"},
	{"diskMaxUsedSpaceRatio", "% of the store's disk above which expired segments are deleted at any hour", "1..100 (used as 10..95)"},
	{"cleanResourceInterval", "period of the retention run: measure the disk, delete segments (ms)", "> 0"},
	{"deleteCommitLogFilesInterval", "pause between two segment deletions of one run (ms)", "≥ 0"},
	{"destroyMapedFileIntervalForcibly", "least time a deleted segment stays mapped; one a pull or a slave still reads from stays until they are done (ms)", "> 0"},
	{"cleanFileForciblyEnable", "above diskSpaceCleanForciblyRatio, unexpired segments are deleted too", "true, false"},
	{"diskSpaceCleanForciblyRatio", "used fraction of the store's disk above which unexpired segments go (cleanFileForciblyEnable)", "(0, 1]"},
	{"diskSpaceWarningLevelRatio", "used fraction of the store's disk above which sends are refused with SERVICE_NOT_AVAILABLE", "(0, 1]"},
	{"aclEnable", "RocketMQ 4.x plain ACL: every request is signed by an account of rocketmq.acl.plain.file", "true, false"},
	{"rocketmq.acl.plain.file", "the ACL file (accounts, IP white lists, admin flag, PUB/SUB per topic and group), re-read when it changes; empty: `<storePathRootDir>/config/plain_acl.yml`", "a file path or empty"},
	{"messageDelayLevel", "delay levels 1..n of delayed messages and consumer retries", "1..64 space-separated durations like 500ms, 5s, 2m, 1h, 1d"},
	{"transactionCheckInterval", "period of the checks of half messages with their producers (ms)", "> 0"},
	{"transactionTimeOut", "age of a half message before its first check (ms)", "≥ 0"},
	{"transactionCheckMax", "checks of a half message before it is discarded", "≥ 1"},
	{"messageIndexEnable", "keep the message index under `index/` (queries by key and unique key need it)", "true, false"},
	{"maxHashSlotNum", "hash slots per index file (a file is 40 + 4×slots + 20×entries bytes, sparse)", "≥ 1; the file at most 2^31−1 bytes"},
	{"maxIndexNum", "entries per index file", "≥ 1; the file at most 2^31−1 bytes"},
	{"maxMsgsNumBatch", "most messages a query by key answers", "≥ 1"},
	{"defaultQueryMaxNum", "most messages a query by unique key answers", "≥ 1"},
	{"tls.server.mode", "TLS on the client port: plain only, TLS and plain on one port, or TLS only (see TLS below)", "disabled, permissive, enforcing"},
	{"tls.server.certPath", "the server's PEM certificate (chain); required unless disabled", "a file path"},
	{"tls.server.keyPath", "the server's unencrypted PEM private key; required unless disabled", "a file path"},
	{"tls.server.need.client.auth", "client certificates: not asked for, verified when presented, or required", "none, optional, require"},
	{"tls.server.trustCertPath", "PEM CA certificates that client certificates must chain to; required unless need.client.auth=none", "a file path"},
	{"tls.server.handshakeTimeoutMillis", "a new connection's time to send its first byte and finish its handshake (ours; RocketMQ has Netty's fixed 10 s) (ms)", "> 0"},
	{"tls.enable", "the broker's own connections (namesrv registration, a slave's metadata sync) use TLS", "true, false"},
	{"tls.client.trustCertPath", "tls.enable: CA certificates that namesrvs' and masters' certificates must chain to; empty: not verified", "a file path or empty"},
	{"tls.client.certPath", "tls.enable: the broker's certificate, for peers that require one", "a file path or empty"},
	{"tls.client.keyPath", "tls.enable: the key of tls.client.certPath", "a file path or empty"},
}

// SettingDefaults are the defaults the README shows: those of a machine
// whose name reads <host name>, for a user whose home is ~.
func SettingDefaults() Config { return defaultConfig("<host name>", "~") }

// settingValues returns, by key, the values of cfg as a properties file
// spells them (durations in milliseconds) and the kind of each.
func settingValues(cfg *Config) (values, kinds map[string]string) {
	values, kinds = map[string]string{}, map[string]string{}
	props.Each(cfg, func(key string, v any) {
		switch v := v.(type) {
		case time.Duration:
			values[key], kinds[key] = strconv.FormatInt(v.Milliseconds(), 10), "ms"
		case float64:
			values[key], kinds[key] = strconv.FormatFloat(v, 'g', -1, 64), "float"
		case string:
			values[key], kinds[key] = v, "string"
		case bool:
			values[key], kinds[key] = strconv.FormatBool(v), "bool"
		default:
			values[key], kinds[key] = fmt.Sprint(v), "int"
		}
	})
	return values, kinds
}

// SettingsMarkdown renders Settings as a Markdown table with the defaults
// of cfg.
func SettingsMarkdown(cfg *Config) string {
	values, _ := settingValues(cfg)
	cell := func(s string) string { return strings.ReplaceAll(s, "|", `\|`) }
	var b strings.Builder
	b.WriteString("| key | meaning | default | allowed |\n|---|---|---|---|\n")
	for _, s := range Settings {
		def := "empty"
		if v := values[s.Key]; v != "" {
			def = "`" + v + "`"
		}
		fmt.Fprintf(&b, "| %s | %s | %s | %s |\n", s.Key, cell(s.Meaning), cell(def), cell(s.Allowed))
	}
	return b.String()
}

// WriteSettingsHelp writes every setting as a flag, by key: its kind,
// meaning, default (from cfg) and allowed values, in the layout of the flag
// package's help.
func WriteSettingsHelp(w io.Writer, cfg *Config) {
	values, kinds := settingValues(cfg)
	sorted := append([]Setting(nil), Settings...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Key < sorted[j].Key })
	for _, s := range sorted {
		def := values[s.Key]
		if def == "" {
			def = "empty"
		}
		fmt.Fprintf(w, "  -%s %s\n", s.Key, kinds[s.Key])
		lines := wrap(strings.ReplaceAll(s.Meaning, "`", ""), 72)
		lines = append(lines, wrap(fmt.Sprintf("default %s; allowed: %s", def, strings.ReplaceAll(s.Allowed, "`", "")), 72)...)
		for _, line := range lines {
			fmt.Fprintf(w, "    \t%s\n", line)
		}
	}
}

// wrap breaks text into lines of at most width bytes at spaces (a longer
// word gets a line of its own).
func wrap(text string, width int) []string {
	var lines []string
	line := ""
	for _, word := range strings.Fields(text) {
		if line != "" && len(line)+1+len(word) > width {
			lines = append(lines, line)
			line = ""
		}
		if line != "" {
			line += " "
		}
		line += word
	}
	return append(lines, line)
}
