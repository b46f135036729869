// Command gonethttp is a realistically large binary (net/http: a few MB of text) for measuring
// GoBinary.callSites and GoBinary.mapTypes, with named map types of the standard library
// (http.Header, url.Values, textproto.MIMEHeader) that are never typelinks.
package main

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
)

func main() {
	h := http.Header{}
	h.Set("A", "b")
	h.Del("A")
	v := url.Values{"x": {"1"}}
	v.Del("x")
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprintln(w, r.URL.Query()) }))
	defer srv.Close()
	if len(os.Args) > 1 {
		resp, err := http.Get(srv.URL + "?" + v.Encode())
		if err == nil {
			resp.Body.Close()
		}
	}
	fmt.Println(len(h), len(v))
}
