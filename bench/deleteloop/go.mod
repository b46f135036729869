module mdt-bench/deleteloop

go 1.21
