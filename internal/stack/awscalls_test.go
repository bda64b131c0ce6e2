package stack

import (
	"bytes"
	"encoding/json"
	"errors"
	"go/ast"
	"go/parser"
	"go/token"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/kitegate/kitegate"

// sdkService is the import path prefix of the AWS SDK's service clients.
const sdkService = "github.com/aws/aws-sdk-go-v2/service/"

// iamPrefix maps an SDK service package to its IAM action prefix where the
// two differ.
var iamPrefix = map[string]string{"dynamodbstreams": "dynamodb"}

var (
	inputType = regexp.MustCompile(`^([A-Z][A-Za-z0-9]*)Input$`)
	paginator = regexp.MustCompile(`^New([A-Z][A-Za-z0-9]*)Paginator$`)
)

// awsOperations finds the AWS operations the non-test code of pkg and of
// every package of this module it imports can make: each SDK operation
// needs its <Operation>Input type (or a New<Operation>Paginator), whether
// it is called on the SDK client or through a consumer's interface. It maps
// the IAM action ("dynamodb:Query") to the files naming it. The graph is of
// packages, so it holds every operation of an imported package, called by
// this function or not: the table in template_test.go says which of those
// a function does not call, and why.
func awsOperations(t *testing.T, pkg string) map[string][]string {
	t.Helper()
	cmd := exec.Command("go", "list", "-deps", "-json=ImportPath,Dir,GoFiles", pkg)
	cmd.Dir = "../.."
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr.Bytes())
	}
	ops := map[string][]string{}
	dec := json.NewDecoder(bytes.NewReader(out))
	for {
		var p struct {
			ImportPath string
			Dir        string
			GoFiles    []string
		}
		if err := dec.Decode(&p); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			t.Fatal(err)
		}
		if p.ImportPath != module && !strings.HasPrefix(p.ImportPath, module+"/") {
			continue
		}
		for _, name := range p.GoFiles {
			file := filepath.Join(p.Dir, name)
			rel := strings.TrimPrefix(p.ImportPath+"/"+name, module+"/")
			for _, op := range fileOperations(t, file) {
				if !slices.Contains(ops[op], rel) {
					ops[op] = append(ops[op], rel)
				}
			}
		}
	}
	return ops
}

func fileOperations(t *testing.T, file string) []string {
	t.Helper()
	f, err := parser.ParseFile(token.NewFileSet(), file, nil, parser.SkipObjectResolution)
	if err != nil {
		t.Fatal(err)
	}
	services := map[string]string{} // local import name -> IAM prefix
	for _, imp := range f.Imports {
		path, _ := strconv.Unquote(imp.Path.Value)
		svc, ok := strings.CutPrefix(path, sdkService)
		if !ok || strings.Contains(svc, "/") {
			continue
		}
		local := svc
		if imp.Name != nil {
			local = imp.Name.Name
		}
		prefix := svc
		if p, ok := iamPrefix[svc]; ok {
			prefix = p
		}
		services[local] = prefix
	}
	if len(services) == 0 {
		return nil
	}
	var ops []string
	ast.Inspect(f, func(n ast.Node) bool {
		sel, ok := n.(*ast.SelectorExpr)
		if !ok {
			return true
		}
		x, ok := sel.X.(*ast.Ident)
		if !ok {
			return true
		}
		prefix, ok := services[x.Name]
		if !ok {
			return true
		}
		if m := inputType.FindStringSubmatch(sel.Sel.Name); m != nil {
			ops = append(ops, prefix+":"+m[1])
		} else if m := paginator.FindStringSubmatch(sel.Sel.Name); m != nil {
			ops = append(ops, prefix+":"+m[1])
		}
		return true
	})
	return ops
}

// The scanner itself: it finds operations through aliases and paginators
// and ignores other SDK types.
func TestFileOperations(t *testing.T) {
	src := `package p
import (
	ddb "github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodbstreams"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)
type api interface{ Query(*ddb.QueryInput) }
var _ = &ddb.PutItemInput{}
var _ = ddb.NewScanPaginator
var _ = dynamodbstreams.GetRecordsInput{}
var _ ddb.Options
var _ types.AttributeValue
`
	file := filepath.Join(t.TempDir(), "p.go")
	if err := os.WriteFile(file, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	got := fileOperations(t, file)
	slices.Sort(got)
	want := []string{"dynamodb:GetRecords", "dynamodb:PutItem", "dynamodb:Query", "dynamodb:Scan"}
	if !slices.Equal(got, want) {
		t.Errorf("operations %v, want %v", got, want)
	}
}
