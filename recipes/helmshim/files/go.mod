// helmshim: a small Go c-shared library of this project (no module
// dependencies), the native half of the helmbind and helmpy wheels.
module example.invalid/helmshim

go 1.22
