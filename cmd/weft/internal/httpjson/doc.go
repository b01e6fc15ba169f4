// Package httpjson writes JSON answers and the project's error body,
// {"error":{"code":"…","message":"…"}}, which every HTTP part of weft
// shares. It holds no state.
package httpjson
