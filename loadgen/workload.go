package loadgen

import "time"

// Workload is a load description in the spirit of OpenMessaging
// Benchmark's workload files (YAML keys in the tags).
type Workload struct {
	Name              string        `yaml:"name" json:"name"`
	Topics            int           `yaml:"topics" json:"topics"`                       // topics to create
	QueuesPerTopic    int           `yaml:"queuesPerTopic" json:"queuesPerTopic"`       // RocketMQ queues (OMB partitionsPerTopic)
	MessageSize       int           `yaml:"messageSize" json:"messageSize"`             // bytes; ignored with PayloadFile
	PayloadFile       string        `yaml:"payloadFile" json:"payloadFile,omitempty"`   // send this file's bytes as the body
	RandomBytesRatio  float64       `yaml:"randomBytesRatio" json:"randomBytesRatio"`   // 0..1: random share of each body (the rest is zeros)
	ProducersPerTopic int           `yaml:"producersPerTopic" json:"producersPerTopic"` // each its own connection
	ConsumersPerTopic int           `yaml:"consumersPerTopic" json:"consumersPerTopic"` // one group per topic; 0 = no consumers
	Rate              float64       `yaml:"producerRate" json:"producerRate"`           // total msg/s over all producers; 0 = closed loop at the window
	InFlight          int           `yaml:"inFlight" json:"inFlight"`                   // outstanding sends per producer
	BatchSize         int           `yaml:"batchSize" json:"batchSize"`                 // messages per send (1 = no batching)
	Duration          time.Duration `yaml:"duration" json:"durationNs"`
	Warmup            time.Duration `yaml:"warmup" json:"warmupNs"`
	Drain             time.Duration `yaml:"drain" json:"drainNs"` // how long consumers may catch up after sending stops
	SendTimeout       time.Duration `yaml:"sendTimeout" json:"sendTimeoutNs"`
}
