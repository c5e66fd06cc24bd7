// Command helmshim is built with -buildmode=c-shared into libhelmshim.so:
// Go's text/template (what Helm renders charts with) behind a C ABI, for
// Python to call through cffi (helmbind, API mode) or ctypes (helmpy).
//
// ABI conventions:
//   - Strings handed to C are malloc'd copies; the caller frees them with
//     helmshim_free(). No Go pointer ever crosses into C.
//   - helmshim_render returns NULL on failure and stores a malloc'd message
//     in *err (when err is not NULL); on success *err is set to NULL.
package main

/*
#include <stdlib.h>
*/
import "C"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"runtime"
	"strings"
	"text/template"
	"unsafe"
)

// funcs are the few Helm-like template functions the shim offers.
var funcs = template.FuncMap{
	"upper": strings.ToUpper,
	"quote": func(s string) string { return fmt.Sprintf("%q", s) },
	"indent": func(n int, s string) string {
		pad := strings.Repeat(" ", n)
		return pad + strings.ReplaceAll(s, "\n", "\n"+pad)
	},
	"toJson": func(v any) (string, error) {
		b, err := json.Marshal(v)
		return string(b), err
	},
}

func render(tmpl, values string) (string, error) {
	var data any
	if values != "" {
		if err := json.Unmarshal([]byte(values), &data); err != nil {
			return "", fmt.Errorf("values: %w", err)
		}
	}
	t, err := template.New("chart").Funcs(funcs).Option("missingkey=error").Parse(tmpl)
	if err != nil {
		return "", err
	}
	var out bytes.Buffer
	if err := t.Execute(&out, data); err != nil {
		return "", err
	}
	return out.String(), nil
}

//export helmshim_render
func helmshim_render(tmpl *C.char, values *C.char, err **C.char) *C.char {
	if err != nil {
		*err = nil
	}
	if tmpl == nil {
		if err != nil {
			*err = C.CString("template is NULL")
		}
		return nil
	}
	v := ""
	if values != nil {
		v = C.GoString(values)
	}
	out, e := render(C.GoString(tmpl), v)
	if e != nil {
		if err != nil {
			*err = C.CString(e.Error())
		}
		return nil
	}
	return C.CString(out)
}

// helmshim_platform says which Go runtime this is and what it was built for
// ("go1.24.4 linux/arm"): the caller can check it loaded its platform's copy.
//
//export helmshim_platform
func helmshim_platform() *C.char {
	return C.CString(runtime.Version() + " " + runtime.GOOS + "/" + runtime.GOARCH)
}

//export helmshim_free
func helmshim_free(p *C.char) {
	C.free(unsafe.Pointer(p))
}

func main() {}
