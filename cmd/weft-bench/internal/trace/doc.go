// Package trace reads sequential editing traces (../shared/data: JSON,
// optionally gzipped) and plans their replay: one splice per transaction
// and the text the replay must produce.
package trace
