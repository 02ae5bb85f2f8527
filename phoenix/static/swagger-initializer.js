// Starts Swagger UI on our spec. A file of its own (not inline) so that the page's
// Content-Security-Policy can allow scripts from this origin only.
window.addEventListener("load", function () {
  var root = document.getElementById("swagger-ui");
  window.ui = SwaggerUIBundle({
    url: root.dataset.specUrl,
    domNode: root,
    deepLinking: true,
    presets: [SwaggerUIBundle.presets.apis],
    layout: "BaseLayout",
    // No badge from the online validator: the page loads nothing from elsewhere.
    validatorUrl: null,
    displayRequestDuration: true,
    docExpansion: "list",
    defaultModelsExpandDepth: 0,
  });
});
