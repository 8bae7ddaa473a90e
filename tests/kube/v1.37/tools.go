//go:build tools

// Package tools names the programs scripts/kube-binaries.sh builds, so that
// `go mod tidy` keeps every module they need in go.mod and go.sum. Never
// compiled on its own (build tag `tools`).
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager"
	_ "k8s.io/kubernetes/cmd/kube-scheduler"
	_ "k8s.io/kubernetes/cmd/kubeadm"
)
