module mdt-example/sessions

go 1.21
