// Ajustes para el libro sin CDN; tools/vendor-js.sh lo copia a _static/vaebook-vendor/ y _config.yml
// (nb_ipywidgets_js) lo carga en las páginas con widgets, entre require.js y el gestor de widgets.
(function () {
  var here = document.currentScript && document.currentScript.src;
  // El gestor de widgets deduce de qué carpeta cargar sus fuentes e iconos a partir de la URL de su módulo AMD;
  // sin esto, require.js la resuelve relativa a la página (book/.../@jupyter-widgets/...) y no existe.
  if (here && window.require && window.require.config) {
    window.require.config({paths: {"@jupyter-widgets/html-manager/dist": new URL("html-manager", here).href}});
  }
  // El gestor de widgets 1.0.6 llama a MathJax.Hub.Queue (la API de MathJax 2) al dibujar texto; el libro usa
  // MathJax 3, que no tiene Hub: sin esto, cada widget de texto lanza un error. Se traduce a typesetPromise.
  function patch() {
    var mj = window.MathJax;
    if (!mj || mj.Hub || !mj.startup) return;
    mj.Hub = {
      Queue: function (job) {
        var el = job && job[2];
        mj.startup.promise.then(function () { return mj.typesetPromise(el ? [el] : undefined); });
      }
    };
  }
  document.addEventListener("DOMContentLoaded", patch);
  window.addEventListener("load", patch);
})();
