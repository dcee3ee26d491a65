//go:build ignore

// createprobe creates N topics on a broker one after the other, by UPDATE_AND_CREATE_TOPIC over one
// connection (as the benchmark does): go run createprobe.go BROKER_ADDR N
package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/rocketgo/rocketgo/remoting"
)

func main() {
	addr := os.Args[1]
	n, _ := strconv.Atoi(os.Args[2])
	c := remoting.NewClient(remoting.ClientConfig{})
	defer c.Close()
	t0 := time.Now()
	for i := range n {
		req := remoting.NewRequest(remoting.UpdateAndCreateTopic, "topic", fmt.Sprintf("probe-%d", i), "readQueueNums", "4", "writeQueueNums", "4", "perm", "6")
		resp, err := c.Invoke(context.Background(), addr, req)
		if err != nil || resp.Code != remoting.Success {
			fmt.Println("create:", err, resp)
			os.Exit(1)
		}
	}
	fmt.Printf("%d topics in %.2f s\n", n, time.Since(t0).Seconds())
}
