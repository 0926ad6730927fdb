package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
	secretvolume "k8s.io/kubernetes/pkg/volume/secret"
	volumeutil "k8s.io/kubernetes/pkg/volume/util"
)

// runSecretVolume writes a Secret read from the API server into a directory with the kubelet's own code for
// Secret volumes (the payload of pkg/volume/secret, written by pkg/volume/util's AtomicWriter): a timestamped
// data directory, the `..data` link to it and one link per key. Tests use it to hand a program a run's Secret
// exactly as a Pod of that run would see it, without a kubelet.
func runSecretVolume(args []string) error {
	flags := flag.NewFlagSet("secret-volume", flag.ContinueOnError)
	kubeconfig := flags.String("kubeconfig", "", "kubeconfig of the API server holding the Secret")
	namespace := flags.String("namespace", "", "the Secret's namespace")
	name := flags.String("name", "", "the Secret's name")
	dir := flags.String("dir", "", "the volume's mount directory (created if missing)")
	// The API server defaults a secret volume's defaultMode to 0644 when the Pod leaves it out.
	mode := flags.String("default-mode", "0644", "file mode of each key (octal), as the volume's defaultMode")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if *kubeconfig == "" || *namespace == "" || *name == "" || *dir == "" {
		return fmt.Errorf("secret-volume needs --kubeconfig, --namespace, --name and --dir")
	}
	defaultMode, err := strconv.ParseInt(*mode, 8, 32)
	if err != nil {
		return fmt.Errorf("--default-mode %q: %w", *mode, err)
	}
	config, err := clientcmd.BuildConfigFromFlags("", *kubeconfig)
	if err != nil {
		return err
	}
	client, err := kubernetes.NewForConfig(config)
	if err != nil {
		return err
	}
	secret, err := client.CoreV1().Secrets(*namespace).Get(context.Background(), *name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	return writeSecretVolume(secret, int32(defaultMode), *dir)
}

func writeSecretVolume(secret *corev1.Secret, defaultMode int32, dir string) error {
	payload, err := secretvolume.MakePayload(nil, secret, &defaultMode, false)
	if err != nil {
		return err
	}
	// The kubelet mounts a tmpfs with mode 0777 for the volume before writing into it.
	if err := os.MkdirAll(dir, 0o777); err != nil {
		return err
	}
	writer, err := volumeutil.NewAtomicWriter(dir, fmt.Sprintf("secret volume %s/%s", secret.Namespace, secret.Name))
	if err != nil {
		return err
	}
	return writer.Write(payload, nil)
}
