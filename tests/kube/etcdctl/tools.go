//go:build tools

// Package tools names the program scripts/kube-binaries.sh builds here (etcdctl),
// so that `go mod tidy` keeps its modules in go.mod and go.sum. Never compiled
// on its own (build tag `tools`).
package tools

import (
	_ "go.etcd.io/etcd/etcdctl/v3"
)
