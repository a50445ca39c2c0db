// skysense._core: thin pybind11 bindings.  Each binding checks array dtypes and
// shapes (the Python layer has already validated values), builds views, releases
// the GIL and calls one kernel.  No physics here.  One register_* per kernel family.
#include <pybind11/pybind11.h>

namespace py = pybind11;

void register_sensing(py::module_& m);
void register_pursuit(py::module_& m);
void register_mapping(py::module_& m);
void register_cordic(py::module_& m);
void register_bistatic(py::module_& m);
void register_echo(py::module_& m);
void register_testing(py::module_& m);
void register_tracking(py::module_& m);

PYBIND11_MODULE(_core, m) {
  m.doc() = "skysense compiled kernels (private; use the skysense Python API)";
  register_sensing(m);
  register_pursuit(m);
  register_mapping(m);
  register_cordic(m);
  register_bistatic(m);
  register_echo(m);
  register_testing(m);
  register_tracking(m);
}
