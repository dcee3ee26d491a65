package client

import (
	"errors"
	"fmt"

	"github.com/rocketgo/rocketgo/remoting"
)

// Sentinels for errors.Is. Transport timeouts wrap remoting.ErrTimeout.
var (
	// ErrNoRoute: the namesrvs know no route for the topic, the route has
	// no queue for the request, or the queue's broker has no usable address.
	ErrNoRoute = errors.New("client: no route")
	// ErrClosed: the producer or consumer is closed.
	ErrClosed = errors.New("client: closed")
	// ErrInvalidMessage: the message cannot be sent as it is (empty or long
	// topic, 0x01/0x02 in a property, properties over 32767 bytes, …).
	ErrInvalidMessage = errors.New("client: invalid message")
	// ErrCorrupt: a pull body does not hold well-formed stored messages.
	ErrCorrupt = errors.New("client: corrupt message")
)

// BrokerError is a response code the call does not treat as a result: a
// namesrv or broker refused the request. Addr is the server that answered.
type BrokerError struct {
	Code   int32
	Remark string
	Addr   string
}

func (e *BrokerError) Error() string {
	if name := codeName(e.Code); name != "" {
		return fmt.Sprintf("%s answered %s (code %d): %s", e.Addr, name, e.Code, e.Remark)
	}
	return fmt.Sprintf("%s answered code %d: %s", e.Addr, e.Code, e.Remark)
}

func brokerError(addr string, resp *remoting.Command) *BrokerError {
	return &BrokerError{Code: resp.Code, Remark: resp.Remark, Addr: addr}
}

// codeName names the response codes a client meets (RocketMQ spelling).
func codeName(code int32) string {
	switch code {
	case remoting.Success:
		return "SUCCESS"
	case remoting.SystemError:
		return "SYSTEM_ERROR"
	case remoting.SystemBusy:
		return "SYSTEM_BUSY"
	case remoting.RequestCodeNotSupported:
		return "REQUEST_CODE_NOT_SUPPORTED"
	case remoting.MessageIllegal:
		return "MESSAGE_ILLEGAL"
	case remoting.ServiceNotAvailable:
		return "SERVICE_NOT_AVAILABLE"
	case remoting.NoPermission:
		return "NO_PERMISSION"
	case remoting.TopicNotExist:
		return "TOPIC_NOT_EXIST"
	case remoting.PullNotFound:
		return "PULL_NOT_FOUND"
	case remoting.PullRetryImmediately:
		return "PULL_RETRY_IMMEDIATELY"
	case remoting.PullOffsetMoved:
		return "PULL_OFFSET_MOVED"
	case remoting.QueryNotFound:
		return "QUERY_NOT_FOUND"
	case remoting.SubscriptionParseFailed:
		return "SUBSCRIPTION_PARSE_FAILED"
	case remoting.SubscriptionGroupNotExist:
		return "SUBSCRIPTION_GROUP_NOT_EXIST"
	case remoting.InvalidParameter:
		return "INVALID_PARAMETER"
	}
	return ""
}

// retryableCode reports the response codes Send retries on another broker
// (REMOTING.md §8.3).
func retryableCode(code int32) bool {
	switch code {
	case remoting.SystemError, remoting.ServiceNotAvailable, remoting.NoPermission, remoting.TopicNotExist:
		return true
	}
	return false
}
