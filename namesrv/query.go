package namesrv

import (
	"encoding/json"
	"fmt"

	"github.com/rocketgo/rocketgo/remoting"
)

// routeByTopic handles GET_ROUTEINFO_BY_TOPIC (105).
func (s *Server) routeByTopic(_ peer, req *remoting.Command) (*remoting.Command, error) {
	topic, err := nonEmpty(req, "topic")
	if err != nil {
		return nil, err
	}
	route, ok := s.table.route(topic)
	s.metrics.lookup(ok)
	if !ok {
		return remoting.Errorf(req, remoting.TopicNotExist,
			"No topic route info in name server for the topic: %s", topic), nil
	}
	return jsonResponse(req, route)
}

// clusterInfo handles GET_BROKER_CLUSTER_INFO (106).
func (s *Server) clusterInfo(_ peer, req *remoting.Command) (*remoting.Command, error) {
	return jsonResponse(req, s.table.clusterInfo())
}

// allTopics handles GET_ALL_TOPIC_LIST_FROM_NAMESERVER (206).
func (s *Server) allTopics(_ peer, req *remoting.Command) (*remoting.Command, error) {
	return jsonResponse(req, s.table.topicList())
}

// deleteTopic handles DELETE_TOPIC_IN_NAMESRV (216): ext topic, and
// optionally clusterName to delete it from that cluster only.
func (s *Server) deleteTopic(_ peer, req *remoting.Command) (*remoting.Command, error) {
	topic, err := nonEmpty(req, "topic")
	if err != nil {
		return nil, err
	}
	cluster := req.ExtValue("clusterName")
	s.table.deleteTopic(topic, cluster)
	s.log.Info("topic deleted", "topic", topic, "cluster", cluster)
	return remoting.NewResponse(req, remoting.Success, ""), nil
}

// kvConfig handles GET_KV_CONFIG (101). The namesrv keeps no KV config, so
// every key is not found, which is what clients expect for an unset key.
func (s *Server) kvConfig(_ peer, req *remoting.Command) (*remoting.Command, error) {
	return remoting.Errorf(req, remoting.QueryNotFound, "No config item, Namespace: %s Key: %s",
		req.ExtValue("namespace"), req.ExtValue("key")), nil
}

func jsonResponse(req *remoting.Command, v any) (*remoting.Command, error) {
	body, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode response to code %d: %w", req.Code, err)
	}
	resp := remoting.NewResponse(req, remoting.Success, "")
	resp.Body = body
	return resp, nil
}
