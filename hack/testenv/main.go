// Command testenv runs a real Kubernetes control plane on loopback for Baton's tests and demo:
// embedded etcd, kube-apiserver and a kube-controller-manager limited to the controllers Baton relies on
// (garbage collection of owned objects, namespace deletion, service accounts and their tokens). `testenv scheduler`
// runs a kube-scheduler for tests that run the real Tekton controller on simulated nodes; `testenv secret-volume`
// lays a Secret out in a directory as the kubelet mounts a Secret volume.
//
// It is one binary so that `make testenv` builds once; the controller manager runs as a re-executed child
// of the same binary because kube-apiserver and kube-controller-manager both register process-global state
// (metrics, feature gates, klog flags) that must not be registered twice in one process.
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"syscall"
	"time"

	"go.etcd.io/etcd/server/v3/embed"
	"golang.org/x/sys/unix"
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	kubectlutil "k8s.io/kubectl/pkg/cmd/util"
	apiserver "k8s.io/kubernetes/cmd/kube-apiserver/app"
	controllermanager "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	scheduler "k8s.io/kubernetes/cmd/kube-scheduler/app"
)

// controllers is the smallest set that gives tests the cluster behaviour Baton depends on.
const controllers = "garbagecollector,namespace,serviceaccount,serviceaccount-token"

func main() {
	// kubectl is built in too, so tests and the demo use the real kubectl of the same Kubernetes release
	// without relying on whatever the machine has; `bin/kubectl` is a link to this binary.
	if filepath.Base(os.Args[0]) == "kubectl" {
		runKubectl(os.Args[1:])
	}
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "kubectl":
			runKubectl(os.Args[2:])
		case "controller-manager":
			// Child mode: the parent passes fully formed kube-controller-manager flags.
			os.Args = append([]string{"kube-controller-manager"}, os.Args[2:]...)
			os.Exit(cli.Run(controllermanager.NewControllerManagerCommand()))
		case "scheduler":
			// kube-scheduler, started on demand (hack/lib/tekton.ts) where real Pods must be bound to fake
			// Nodes: kwok only acts on bound Pods. Same Kubernetes release as the API server, one more mode.
			os.Args = append([]string{"kube-scheduler"}, os.Args[2:]...)
			os.Exit(cli.Run(scheduler.NewSchedulerCommand()))
		case "secret-volume":
			if err := runSecretVolume(os.Args[2:]); err != nil {
				fmt.Fprintln(os.Stderr, "testenv secret-volume:", err)
				os.Exit(1)
			}
			os.Exit(0)
		}
	}
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "testenv:", err)
		os.Exit(1)
	}
}

func runKubectl(args []string) {
	os.Args = append([]string{"kubectl"}, args...)
	logs.GlogSetter(kubectlcmd.GetLogVerbosity(os.Args)) //nolint:errcheck
	if err := cli.RunNoErrOutput(kubectlcmd.NewDefaultKubectlCommand()); err != nil {
		kubectlutil.CheckErr(err)
	}
	os.Exit(0)
}

type options struct {
	dir           string
	port          int
	dieWithParent bool
}

// info is written to <dir>/testenv.json so tools can find the running control plane.
type info struct {
	PID        int    `json:"pid"`
	Server     string `json:"server"`
	Kubeconfig string `json:"kubeconfig"`
	EtcdURL    string `json:"etcd"`
	Version    string `json:"version"`
	// EtcdPeerPort lets a restart in the same directory reuse every port.
	EtcdPeerPort int `json:"etcdPeerPort"`
}

type previousRun struct {
	ports []int
}

// readInfo returns the ports of the control plane that last ran in this directory, if any.
func readInfo(path string) (previousRun, bool) {
	data, err := os.ReadFile(path)
	if err != nil {
		return previousRun{}, false
	}
	var i info
	if json.Unmarshal(data, &i) != nil || i.EtcdPeerPort == 0 {
		return previousRun{}, false
	}
	server, err1 := url.Parse(i.Server)
	etcd, err2 := url.Parse(i.EtcdURL)
	if err1 != nil || err2 != nil {
		return previousRun{}, false
	}
	apiPort, err1 := strconv.Atoi(server.Port())
	etcdPort, err2 := strconv.Atoi(etcd.Port())
	if err1 != nil || err2 != nil {
		return previousRun{}, false
	}
	return previousRun{ports: []int{apiPort, etcdPort, i.EtcdPeerPort}}, true
}

func run() error {
	var o options
	flag.StringVar(&o.dir, "dir", "", "directory for certificates, etcd data, logs and the kubeconfig (required)")
	flag.IntVar(&o.port, "port", 0, "kube-apiserver secure port (0 picks a free one)")
	flag.BoolVar(&o.dieWithParent, "die-with-parent", false, "exit when the parent process exits (for test runners)")
	flag.Parse()
	if o.dir == "" {
		return errors.New("--dir is required")
	}
	if o.dieWithParent {
		// Test runners may be killed without a chance to clean up; the kernel then tells us to go too.
		if err := unix.Prctl(unix.PR_SET_PDEATHSIG, uintptr(syscall.SIGTERM), 0, 0, 0); err != nil {
			return fmt.Errorf("set parent-death signal: %w", err)
		}
		if os.Getppid() == 1 {
			return errors.New("parent already exited")
		}
	}
	dir, err := filepath.Abs(o.dir)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}

	// A directory that held a control plane before is restarted in place: same ports, certificates and etcd
	// data, so clients (and tests of what happens when the API server restarts) reconnect to the same server.
	previous, restarting := readInfo(filepath.Join(dir, "testenv.json"))
	ports, err := freePorts(3)
	if err != nil {
		return err
	}
	if restarting {
		ports = previous.ports
	}
	if o.port != 0 {
		ports[0] = o.port
	}
	apiPort, etcdClientPort, etcdPeerPort := ports[0], ports[1], ports[2]

	pki, err := loadOrWritePKI(filepath.Join(dir, "pki"))
	if err != nil {
		return fmt.Errorf("generate certificates: %w", err)
	}

	etcd, etcdURL, err := startEtcd(filepath.Join(dir, "etcd"), etcdClientPort, etcdPeerPort)
	if err != nil {
		return fmt.Errorf("start etcd: %w", err)
	}
	defer etcd.Close()

	server := fmt.Sprintf("https://127.0.0.1:%d", apiPort)
	kubeconfig := filepath.Join(dir, "kubeconfig")
	if err := writeKubeconfig(kubeconfig, server, pki); err != nil {
		return err
	}

	if err := os.WriteFile(filepath.Join(dir, "audit-policy.yaml"), []byte(auditPolicy), 0o600); err != nil {
		return err
	}

	apiErr := make(chan error, 1)
	go func() {
		cmd := apiserver.NewAPIServerCommand()
		cmd.SetArgs(apiserverArgs(dir, pki, apiPort, etcdURL))
		apiErr <- cmd.Execute()
	}()

	readyCtx, cancelReady := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancelReady()
	if err := waitReady(readyCtx, server, pki, apiErr); err != nil {
		return err
	}

	kcm, err := startControllerManager(dir, kubeconfig, pki)
	if err != nil {
		return fmt.Errorf("start kube-controller-manager: %w", err)
	}
	kcmErr := make(chan error, 1)
	go func() { kcmErr <- kcm.Wait() }()

	if err := writeInfo(filepath.Join(dir, "testenv.json"), info{
		PID: os.Getpid(), Server: server, Kubeconfig: kubeconfig, EtcdURL: etcdURL, Version: kubeVersion(),
		EtcdPeerPort: etcdPeerPort,
	}); err != nil {
		return err
	}
	// The one line a caller waits for: everything after it is ready to use.
	fmt.Printf("ready kubeconfig=%s server=%s\n", kubeconfig, server)

	// The API server command owns SIGINT/SIGTERM handling; it returns after a graceful shutdown.
	stop := make(chan os.Signal, 1)
	signal.Notify(stop, syscall.SIGINT, syscall.SIGTERM)
	select {
	case err := <-apiErr:
		_ = kcm.Process.Kill()
		return err
	case err := <-kcmErr:
		return fmt.Errorf("kube-controller-manager exited: %v (see %s)", err, filepath.Join(dir, "kube-controller-manager.log"))
	case <-stop:
		_ = kcm.Process.Signal(syscall.SIGTERM)
		select {
		case <-apiErr:
		case <-time.After(10 * time.Second):
		}
		_ = kcm.Process.Kill()
		return nil
	}
}

// operatorUser is the identity the tests run Baton as (test/support binds it to exactly config/rbac).
const operatorUser = "system:serviceaccount:baton-system:baton"

// auditPolicy records every request Baton's ServiceAccount makes, and nothing else, in <dir>/audit.log: the
// RBAC test compares what config/rbac grants with what the operator really asks for.
const auditPolicy = `apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: Metadata
    users: ["` + operatorUser + `"]
  - level: None
`

func apiserverArgs(dir string, pki *pki, port int, etcdURL string) []string {
	return []string{
		"--bind-address=127.0.0.1",
		"--advertise-address=127.0.0.1",
		"--secure-port=" + strconv.Itoa(port),
		"--cert-dir=" + filepath.Join(dir, "apiserver-certs"),
		"--tls-cert-file=" + pki.servingCert,
		"--tls-private-key-file=" + pki.servingKey,
		"--client-ca-file=" + pki.clientCA,
		"--etcd-servers=" + etcdURL,
		"--service-account-issuer=https://kubernetes.default.svc.cluster.local",
		"--service-account-key-file=" + pki.saPublic,
		"--service-account-signing-key-file=" + pki.saPrivate,
		"--service-cluster-ip-range=10.0.0.0/24",
		"--authorization-mode=RBAC",
		// As hardened clusters (and OpenShift) run it: an owner reference with blockOwnerDeletion needs update
		// on the owner's finalizers subresource, which config/rbac grants for the Secrets Baton owns.
		"--enable-admission-plugins=OwnerReferencesPermissionEnforcement",
		"--audit-policy-file=" + filepath.Join(dir, "audit-policy.yaml"),
		"--audit-log-path=" + filepath.Join(dir, "audit.log"),
		"--audit-log-format=json",
		// One file however long the run: the RBAC test reads it from the start.
		"--audit-log-maxsize=0",
		"--allow-privileged=true",
		"--shutdown-delay-duration=0s",
		"--profiling=false",
		// The kubernetes Service cannot point at loopback; nothing in tests needs its endpoints.
		"--endpoint-reconciler-type=none",
		// Load tests create thousands of objects quickly; the defaults are sized for a shared production server.
		"--max-requests-inflight=1000",
		"--max-mutating-requests-inflight=500",
		"--v=0",
	}
}

func startControllerManager(dir, kubeconfig string, pki *pki) (*exec.Cmd, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	logFile, err := os.Create(filepath.Join(dir, "kube-controller-manager.log"))
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(self, "controller-manager",
		"--kubeconfig="+kubeconfig,
		"--controllers="+controllers,
		"--service-account-private-key-file="+pki.saPrivate,
		"--root-ca-file="+pki.servingCA,
		"--use-service-account-credentials=false",
		"--leader-elect=false",
		"--secure-port=0",
		// Fast garbage collection and namespace cleanup keep tests short.
		"--concurrent-gc-syncs=20",
		"--concurrent-namespace-syncs=10",
		"--v=0",
	)
	cmd.Stdout = logFile
	cmd.Stderr = logFile
	// The child must never outlive this process, whatever way it ends.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	return cmd, nil
}

func startEtcd(dir string, clientPort, peerPort int) (*embed.Etcd, string, error) {
	cfg := embed.NewConfig()
	cfg.Dir = dir
	cfg.Name = "testenv"
	clientURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", clientPort)}
	peerURL := url.URL{Scheme: "http", Host: fmt.Sprintf("127.0.0.1:%d", peerPort)}
	cfg.ListenClientUrls = []url.URL{clientURL}
	cfg.AdvertiseClientUrls = []url.URL{clientURL}
	cfg.ListenPeerUrls = []url.URL{peerURL}
	cfg.AdvertisePeerUrls = []url.URL{peerURL}
	cfg.InitialCluster = cfg.Name + "=" + peerURL.String()
	// Test data is disposable; fsync only costs time.
	cfg.UnsafeNoFsync = true
	cfg.LogLevel = "error"
	cfg.LogOutputs = []string{filepath.Join(filepath.Dir(dir), "etcd.log")}
	e, err := embed.StartEtcd(cfg)
	if err != nil {
		return nil, "", err
	}
	select {
	case <-e.Server.ReadyNotify():
		return e, clientURL.String(), nil
	case err := <-e.Err():
		e.Close()
		return nil, "", err
	case <-time.After(60 * time.Second):
		e.Close()
		return nil, "", errors.New("etcd did not become ready within 60s")
	}
}

// waitReady polls /readyz with the admin identity, which also proves the client certificate works.
func waitReady(ctx context.Context, server string, pki *pki, apiErr <-chan error) error {
	cert, err := tls.LoadX509KeyPair(pki.adminCert, pki.adminKey)
	if err != nil {
		return err
	}
	caPEM, err := os.ReadFile(pki.servingCA)
	if err != nil {
		return err
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(caPEM)
	client := &http.Client{
		Timeout:   5 * time.Second,
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots, Certificates: []tls.Certificate{cert}}},
	}
	last := "no answer yet"
	for {
		resp, err := client.Get(server + "/readyz")
		if err == nil {
			body, _ := io.ReadAll(io.LimitReader(resp.Body, 4096))
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
			last = fmt.Sprintf("%d %s", resp.StatusCode, body)
		} else {
			last = err.Error()
		}
		select {
		case err := <-apiErr:
			return fmt.Errorf("kube-apiserver exited before ready: %v", err)
		case <-ctx.Done():
			return fmt.Errorf("kube-apiserver not ready: %s", last)
		case <-time.After(200 * time.Millisecond):
		}
	}
}

func freePorts(n int) ([]int, error) {
	ports := make([]int, 0, n)
	listeners := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range listeners {
			l.Close()
		}
	}()
	for range n {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, err
		}
		listeners = append(listeners, l)
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	return ports, nil
}

func writeInfo(path string, i info) error {
	data, err := json.MarshalIndent(i, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(path, append(data, '\n'), 0o600)
}
