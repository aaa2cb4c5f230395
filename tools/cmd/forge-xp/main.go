// Command forge-xp drives the real Crossplane engine and the API server's validation
// library for this project's tests and local renders.
//
//	forge-xp render --crossplane=BIN < request.json > response.json
//	forge-xp validate --crds=DIR[,DIR...] < objects.json > results.json
//	forge-xp xrd-crd < xrd.json > crd.json
//
// render reads a RenderRequest in protobuf JSON, applies the XRD's defaults to the XR
// the way `crossplane render --xrd` does (crossplane-runtime xcrd + the API server's
// structural defaulting), and runs it through `crossplane internal render`, the real
// composite reconciler on an in-memory client. It exits 3 on a pipeline fatal result,
// like the engine.
//
// xrd-crd prints the CRD Crossplane creates for an XRD (crossplane-runtime xcrd).
//
// validate checks objects as the API server admits a custom resource: unknown fields
// (pruning), defaults, OpenAPI schema, CEL rules and object metadata, against CRDs and
// against CRDs derived from XRDs by crossplane-runtime's xcrd. An element of the list
// that is {"object": NEW, "oldObject": OLD} is an update, admitted as the API server
// admits one (its customResourceStrategy.ValidateUpdate): both objects defaulted, the
// schema ratcheted against the old object and the CEL rules run with oldSelf, so
// transition rules (immutability) are judged.
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"

	"google.golang.org/protobuf/encoding/protojson"
	"google.golang.org/protobuf/proto"
	"google.golang.org/protobuf/types/known/structpb"
	"k8s.io/apiextensions-apiserver/pkg/apis/apiextensions"
	extv1 "k8s.io/apiextensions-apiserver/pkg/apis/apiextensions/v1"
	structuralschema "k8s.io/apiextensions-apiserver/pkg/apiserver/schema"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/cel/model"
	structuraldefaulting "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/defaulting"
	structurallisttype "k8s.io/apiextensions-apiserver/pkg/apiserver/schema/listtype"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/objectmeta"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/schema/pruning"
	"k8s.io/apiextensions-apiserver/pkg/apiserver/validation"
	apivalidation "k8s.io/apimachinery/pkg/api/validation"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	utiljson "k8s.io/apimachinery/pkg/util/json"
	"k8s.io/apimachinery/pkg/util/validation/field"
	celconfig "k8s.io/apiserver/pkg/apis/cel"
	"k8s.io/apiserver/pkg/cel/common"
	"sigs.k8s.io/yaml"

	"github.com/crossplane/crossplane-runtime/v2/pkg/xcrd"

	xpv1 "github.com/crossplane/crossplane/apis/v2/apiextensions/v1"
	renderv1alpha1 "github.com/crossplane/crossplane/v2/proto/render/v1alpha1"
)

const exitPipelineFatal = 3

func main() {
	if len(os.Args) < 2 {
		fail(errors.New("usage: forge-xp render|validate|xrd-crd [flags]"))
	}
	var err error
	switch os.Args[1] {
	case "render":
		err = render(os.Args[2:])
	case "validate":
		err = validate(os.Args[2:])
	case "xrd-crd":
		err = xrdCRD(os.Args[2:])
	default:
		err = fmt.Errorf("unknown command %q (want render, validate or xrd-crd)", os.Args[1])
	}
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		os.Exit(exit.ExitCode())
	}
	if err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "forge-xp:", err)
	os.Exit(1)
}

// render runs one RenderRequest through the real engine.
func render(args []string) error {
	flags := flag.NewFlagSet("render", flag.ContinueOnError)
	binary := flags.String("crossplane", "crossplane", "the Crossplane core binary")
	timeout := flags.String("timeout", "2m", "the engine's render timeout")
	if err := parse(flags, args); err != nil {
		return err
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	req := &renderv1alpha1.RenderRequest{}
	if err := protojson.Unmarshal(data, req); err != nil {
		return fmt.Errorf("cannot parse the render request: %w", err)
	}
	if in := req.GetComposite(); in != nil && in.GetCompositeResourceDefinition() != nil {
		xr, err := applyXRDDefaults(in.GetCompositeResource(), in.GetCompositeResourceDefinition())
		if err != nil {
			return err
		}
		in.CompositeResource = xr
	}
	wire, err := proto.Marshal(req)
	if err != nil {
		return err
	}
	cmd := exec.Command(*binary, "internal", "render", "--timeout="+*timeout) //nolint:gosec // our own tool path
	cmd.Stdin = bytes.NewReader(wire)
	cmd.Stderr = os.Stderr
	out, runErr := cmd.Output()
	var exit *exec.ExitError
	if runErr != nil && !(errors.As(runErr, &exit) && exit.ExitCode() == exitPipelineFatal) {
		return runErr
	}
	rsp := &renderv1alpha1.RenderResponse{}
	if err := proto.Unmarshal(out, rsp); err != nil {
		return fmt.Errorf("cannot parse the engine's response: %w", err)
	}
	text, err := protojson.MarshalOptions{UseProtoNames: false}.Marshal(rsp)
	if err != nil {
		return err
	}
	if _, err := os.Stdout.Write(text); err != nil {
		return err
	}
	return runErr
}

// applyXRDDefaults defaults the XR from the CRD Crossplane derives from its XRD.
func applyXRDDefaults(xr, def *structpb.Struct) (*structpb.Struct, error) {
	crd, err := crdForXRD(def.AsMap())
	if err != nil {
		return nil, err
	}
	obj := xr.AsMap()
	apiVersion, _ := obj["apiVersion"].(string)
	s, ok, err := structuralFor(crd, apiVersion)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, fmt.Errorf("the XRD %s does not serve %s", crd.Name, apiVersion)
	}
	structuraldefaulting.Default(obj, s)
	return structpb.NewStruct(obj)
}

// xrdSchema is Crossplane's own CRD of XRDs (--xrd-crd): its defaults (a v2 XRD's scope
// is Namespaced, a v1 XRD's LegacyCluster) are applied to an XRD before it is converted,
// as the API server applies them when the XRD is created.
var xrdSchema *extv1.CustomResourceDefinition

// parse parses a command's flags plus --xrd-crd, which every command takes.
func parse(flags *flag.FlagSet, args []string) error {
	xrdCRD := flags.String("xrd-crd", "", "Crossplane's CRD of XRDs, whose defaults XRDs get")
	if err := flags.Parse(args); err != nil {
		return err
	}
	return loadXRDSchema(*xrdCRD)
}

func loadXRDSchema(path string) error {
	if path == "" {
		return nil
	}
	data, err := os.ReadFile(path) //nolint:gosec // a path the caller named
	if err != nil {
		return err
	}
	obj := map[string]any{}
	if err := yaml.Unmarshal(data, &obj); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	xrdSchema = &extv1.CustomResourceDefinition{}
	return runtime.DefaultUnstructuredConverter.FromUnstructured(obj, xrdSchema)
}

// crdForXRD is the CRD Crossplane creates for an XRD (v1 or v2: the fields we need are shared).
func crdForXRD(obj map[string]any) (*extv1.CustomResourceDefinition, error) {
	if xrdSchema != nil {
		apiVersion, _ := obj["apiVersion"].(string)
		s, ok, err := structuralFor(xrdSchema, apiVersion)
		if err != nil {
			return nil, err
		}
		if !ok {
			return nil, fmt.Errorf("not an XRD apiVersion: %q", apiVersion)
		}
		obj = runtime.DeepCopyJSON(obj)
		structuraldefaulting.Default(obj, s)
	}
	raw, err := json.Marshal(obj)
	if err != nil {
		return nil, err
	}
	xrd := &xpv1.CompositeResourceDefinition{}
	if err := json.Unmarshal(raw, xrd); err != nil {
		return nil, fmt.Errorf("cannot read the XRD: %w", err)
	}
	crd, err := xcrd.ForCompositeResource(xrd)
	if err != nil {
		return nil, fmt.Errorf("cannot derive a CRD from XRD %s: %w", xrd.GetName(), err)
	}
	return crd, nil
}

// structuralFor is the structural schema of one served version of a CRD.
func structuralFor(crd *extv1.CustomResourceDefinition, apiVersion string) (*structuralschema.Structural, bool, error) {
	for _, v := range crd.Spec.Versions {
		if crd.Spec.Group+"/"+v.Name != apiVersion || v.Schema == nil || v.Schema.OpenAPIV3Schema == nil {
			continue
		}
		props, err := internalProps(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return nil, false, err
		}
		s, err := structuralschema.NewStructural(props)
		return s, err == nil, err
	}
	return nil, false, nil
}

func internalProps(in *extv1.JSONSchemaProps) (*apiextensions.JSONSchemaProps, error) {
	out := &apiextensions.JSONSchemaProps{}
	return out, extv1.Convert_v1_JSONSchemaProps_To_apiextensions_JSONSchemaProps(in, out, nil)
}

// schemaSet is every version of every CRD, keyed by apiVersion and kind.
type schemaSet map[string]*extv1.CustomResourceDefinition

func key(apiVersion, kind string) string { return apiVersion + " " + kind }

func (set schemaSet) add(crd *extv1.CustomResourceDefinition) {
	for _, v := range crd.Spec.Versions {
		set[key(crd.Spec.Group+"/"+v.Name, crd.Spec.Names.Kind)] = crd
	}
}

// loadSchemas reads CRDs and XRDs (converted as Crossplane converts them) from YAML files.
func loadSchemas(paths []string) (schemaSet, error) {
	set := schemaSet{}
	for _, root := range paths {
		err := filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || !(strings.HasSuffix(path, ".yaml") || strings.HasSuffix(path, ".yml")) {
				return err
			}
			data, err := os.ReadFile(path) //nolint:gosec // a path the caller named
			if err != nil {
				return err
			}
			for _, doc := range bytes.Split(data, []byte("\n---")) {
				obj := map[string]any{}
				if err := yaml.Unmarshal(doc, &obj); err != nil {
					return fmt.Errorf("%s: %w", path, err)
				}
				switch obj["kind"] {
				case "CustomResourceDefinition":
					crd := &extv1.CustomResourceDefinition{}
					if err := runtime.DefaultUnstructuredConverter.FromUnstructured(obj, crd); err != nil {
						return fmt.Errorf("%s: %w", path, err)
					}
					set.add(crd)
				case "CompositeResourceDefinition":
					crd, err := crdForXRD(obj)
					if err != nil {
						return fmt.Errorf("%s: %w", path, err)
					}
					set.add(crd)
				}
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
	}
	return set, nil
}

// Result is the verdict on one object.
type Result struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Name       string   `json:"name"`
	Namespace  string   `json:"namespace,omitempty"`
	Status     string   `json:"status"` // valid, invalid or missing-schema
	Errors     []string `json:"errors,omitempty"`
}

// validate admits each object of a JSON list as the API server would.
func validate(args []string) error {
	flags := flag.NewFlagSet("validate", flag.ContinueOnError)
	crds := flags.String("crds", "", "comma-separated files or directories of CRDs and XRDs")
	if err := parse(flags, args); err != nil {
		return err
	}
	set, err := loadSchemas(strings.Split(*crds, ","))
	if err != nil {
		return err
	}
	data, err := io.ReadAll(os.Stdin)
	if err != nil {
		return err
	}
	// The API server's JSON decoding: integers stay int64, which CEL and the schema need.
	var objects []map[string]any
	if err := utiljson.Unmarshal(data, &objects); err != nil {
		return fmt.Errorf("cannot parse the objects: %w", err)
	}
	results := make([]Result, 0, len(objects))
	for _, obj := range objects {
		if _, isObject := obj["apiVersion"]; !isObject {
			if update, ok := obj["object"].(map[string]any); ok {
				old, _ := obj["oldObject"].(map[string]any)
				results = append(results, admit(set, update, old))
				continue
			}
		}
		results = append(results, admit(set, obj, nil))
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

// admit judges a create (old nil) or an update of old to obj.
func admit(set schemaSet, obj, old map[string]any) Result {
	apiVersion, _ := obj["apiVersion"].(string)
	kind, _ := obj["kind"].(string)
	meta, _ := obj["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	namespace, _ := meta["namespace"].(string)
	r := Result{APIVersion: apiVersion, Kind: kind, Name: name, Namespace: namespace, Status: "valid"}
	crd, ok := set[key(apiVersion, kind)]
	if !ok {
		r.Status = "missing-schema"
		return r
	}
	s, _, err := structuralFor(crd, apiVersion)
	if err != nil || s == nil {
		r.Status, r.Errors = "invalid", []string{fmt.Sprintf("schema of %s: %v", crd.Name, err)}
		return r
	}
	var errs field.ErrorList
	// Strict field validation: what pruning would drop is an error.
	unknown := pruning.PruneWithOptions(runtime.DeepCopyJSON(obj), s, true,
		structuralschema.UnknownFieldPathOptions{TrackUnknownFieldPaths: true})
	sort.Strings(unknown)
	for _, path := range unknown {
		errs = append(errs, field.Invalid(field.NewPath(path), nil, "unknown field"))
	}
	structuraldefaulting.Default(obj, s)
	var correlated *common.CorrelatedObject
	var celOptions []cel.Option
	if old != nil {
		// What the API server reads from storage is defaulted (and was pruned on write).
		old = runtime.DeepCopyJSON(old)
		// Storage gives the old object a resourceVersion; a PATCH (kubectl apply, a
		// controller's update) carries it over to the new one.
		oldU, newU := &unstructured.Unstructured{Object: old}, &unstructured.Unstructured{Object: obj}
		if oldU.GetResourceVersion() == "" {
			oldU.SetResourceVersion("1")
		}
		if newU.GetResourceVersion() == "" {
			newU.SetResourceVersion(oldU.GetResourceVersion())
		}
		pruning.PruneWithOptions(old, s, true, structuralschema.UnknownFieldPathOptions{})
		structuraldefaulting.Default(old, s)
		correlated = common.NewCorrelatedObject(obj, old, &model.Structural{Structural: s})
		celOptions = append(celOptions, cel.WithRatcheting(correlated))
	}
	for _, v := range crd.Spec.Versions {
		if crd.Spec.Group+"/"+v.Name != apiVersion {
			continue
		}
		props, err := internalProps(v.Schema.OpenAPIV3Schema)
		if err != nil {
			errs = append(errs, field.InternalError(nil, err))
			break
		}
		validator, _, err := validation.NewSchemaValidator(props)
		if err != nil {
			errs = append(errs, field.InternalError(nil, err))
			break
		}
		if old == nil {
			errs = append(errs, validation.ValidateCustomResource(nil, obj, validator)...)
		} else {
			errs = append(errs, validation.ValidateCustomResourceUpdate(nil, obj, old, validator,
				validation.WithRatcheting(correlated))...)
		}
	}
	u := &unstructured.Unstructured{Object: obj}
	namespaced := crd.Spec.Scope == extv1.NamespaceScoped
	var oldObject any
	if old == nil {
		errs = append(errs, objectmeta.Validate(nil, obj, s, true)...)
		errs = append(errs, apivalidation.ValidateObjectMetaAccessor(u, namespaced,
			apivalidation.NameIsDNSSubdomain, field.NewPath("metadata"))...)
		errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, s, obj)...)
	} else {
		oldObject = old
		errs = append(errs, apivalidation.ValidateObjectMetaAccessorUpdate(u,
			&unstructured.Unstructured{Object: old}, field.NewPath("metadata"))...)
		errs = append(errs, objectmeta.Validate(nil, obj, s, false)...)
		if oldErrs := structurallisttype.ValidateListSetsAndMaps(nil, s, old); len(oldErrs) == 0 {
			errs = append(errs, structurallisttype.ValidateListSetsAndMaps(nil, s, obj)...)
		}
	}
	celErrs, _ := cel.NewValidator(s, true, celconfig.PerCallLimit).
		Validate(context.Background(), nil, s, obj, oldObject, celconfig.RuntimeCELCostBudget, celOptions...)
	errs = append(errs, celErrs...)
	for _, e := range errs {
		r.Errors = append(r.Errors, e.Error())
	}
	if len(r.Errors) > 0 {
		r.Status = "invalid"
	}
	return r
}

// xrdCRD converts one XRD (JSON on stdin) to its CRD (JSON on stdout).
func xrdCRD(args []string) error {
	flags := flag.NewFlagSet("xrd-crd", flag.ContinueOnError)
	if err := parse(flags, args); err != nil {
		return err
	}
	obj := map[string]any{}
	if err := json.NewDecoder(os.Stdin).Decode(&obj); err != nil {
		return fmt.Errorf("cannot parse the XRD: %w", err)
	}
	crd, err := crdForXRD(obj)
	if err != nil {
		return err
	}
	return json.NewEncoder(os.Stdout).Encode(crd)
}
