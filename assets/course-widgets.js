// Loaded before the ipywidgets embed manager (see nb_ipywidgets_js in _config.yml).
(function () {
  // 1. The embed manager's icon fonts live next to it in _static/widgets/, not on a CDN.
  var here = document.currentScript ? document.currentScript.src : "";
  var widgetsDir = here.replace(/[^/]*$/, "") + "widgets";
  window.__jupyter_widgets_assets_path__ = widgetsDir + "/";
  // embed-amd resolves its font files through require.js module paths
  if (window.require && window.require.config) {
    window.require.config({ paths: { "@jupyter-widgets/html-manager/dist": widgetsDir } });
  }
  // 2. ipywidgets 8 calls the MathJax 2 API MathJax.Hub.Queue (ipywidgets#3829); the book uses MathJax 3.
  function installHubShim() {
    if (!window.MathJax || window.MathJax.Hub) { return; }
    window.MathJax.Hub = {
      Queue: function () {
        for (var i = 0; i < arguments.length; i++) {
          var job = arguments[i];
          if (Array.isArray(job) && job[0] === "Typeset" && window.MathJax.typesetPromise) {
            window.MathJax.typesetPromise(job[2] ? [job[2]] : undefined);
          }
        }
      },
    };
  }
  installHubShim();
  window.addEventListener("load", installHubShim);
})();
