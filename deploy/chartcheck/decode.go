package chartcheck

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"sigs.k8s.io/yaml"
)

// ServiceMonitor is the part of the Prometheus Operator's
// monitoring.coreos.com/v1 ServiceMonitor the chart uses. k8s.io/api has no
// type for it; a field the chart adds must be added here (and checked
// against the operator's CRD) before the strict decode accepts it.
type ServiceMonitor struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Selector  metav1.LabelSelector `json:"selector"`
		Endpoints []struct {
			Port          string `json:"port"`
			Path          string `json:"path"`
			Interval      string `json:"interval"`
			ScrapeTimeout string `json:"scrapeTimeout"`
		} `json:"endpoints"`
	} `json:"spec"`
}

// newObject returns an empty typed object for apiVersion and kind; nil for a
// kind the chart is not expected to render.
func newObject(apiVersion, kind string) any {
	switch apiVersion + " " + kind {
	case "apps/v1 Deployment":
		return &appsv1.Deployment{}
	case "batch/v1 Job":
		return &batchv1.Job{}
	case "v1 Service":
		return &corev1.Service{}
	case "v1 ServiceAccount":
		return &corev1.ServiceAccount{}
	case "v1 ConfigMap":
		return &corev1.ConfigMap{}
	case "policy/v1 PodDisruptionBudget":
		return &policyv1.PodDisruptionBudget{}
	case "autoscaling/v2 HorizontalPodAutoscaler":
		return &autoscalingv2.HorizontalPodAutoscaler{}
	case "networking.k8s.io/v1 NetworkPolicy":
		return &networkingv1.NetworkPolicy{}
	case "monitoring.coreos.com/v1 ServiceMonitor":
		return &ServiceMonitor{}
	}
	return nil
}

// Object is one strictly decoded document.
type Object struct {
	Source string // "<template>#<n>"
	Kind   string // "apps/v1 Deployment"
	Value  any    // *appsv1.Deployment, …
}

// Decode decodes one YAML document strictly into its typed object:
// duplicate keys, unknown fields, trailing data and unknown kinds are
// errors.
func Decode(doc []byte) (Object, error) {
	js, err := yaml.YAMLToJSONStrict(doc)
	if err != nil {
		return Object{}, fmt.Errorf("yaml: %w", err)
	}
	var tm metav1.TypeMeta
	if err := json.Unmarshal(js, &tm); err != nil {
		return Object{}, fmt.Errorf("type: %w", err)
	}
	obj := newObject(tm.APIVersion, tm.Kind)
	if obj == nil {
		return Object{}, fmt.Errorf("unexpected kind %q %q", tm.APIVersion, tm.Kind)
	}
	dec := json.NewDecoder(bytes.NewReader(js))
	dec.DisallowUnknownFields()
	if err := dec.Decode(obj); err != nil {
		return Object{}, fmt.Errorf("%s %s: %w", tm.APIVersion, tm.Kind, err)
	}
	if _, err := dec.Token(); err != io.EOF {
		return Object{}, fmt.Errorf("%s %s: trailing data after the object", tm.APIVersion, tm.Kind)
	}
	return Object{Kind: tm.APIVersion + " " + tm.Kind, Value: obj}, nil
}

// DecodeAll renders nothing: it decodes every document of sources strictly.
func DecodeAll(sources []Source) ([]Object, error) {
	var objs []Object
	for _, d := range Documents(sources) {
		o, err := Decode([]byte(d.Content))
		if err != nil {
			return nil, fmt.Errorf("%s: %w", d.Name, err)
		}
		o.Source = d.Name
		objs = append(objs, o)
	}
	return objs, nil
}
