// The query page: YASGUI on this service's /sparql, the saved queries as examples,
// and links that download the current query's results in each format.
"use strict";
(function () {
  const config = JSON.parse(document.getElementById("sparql-config").textContent);
  // Class and property completion asks a remote vocabulary service (LOV): not from here.
  Yasgui.Yasqe.defaults.autocompleters = Yasgui.Yasqe.defaults.autocompleters
    .filter((name) => name !== "class" && name !== "property");
  Yasgui.Yasqe.defaults.value = config.query;
  const yasgui = new Yasgui(document.getElementById("yasgui"), {
    requestConfig: { endpoint: config.endpoint, method: "POST" },
    copyEndpointOnNewTab: false,
    endpointCatalogueOptions: { getData: () => [{ endpoint: config.endpoint }] },
    persistenceId: null,
  });
  const formats = {
    results: [["json", "JSON"], ["xml", "XML"], ["csv", "CSV"], ["tsv", "TSV"]],
    graph: [["ttl", "Turtle"], ["nt", "N-Triples"], ["jsonld", "JSON-LD"], ["rdf", "RDF/XML"],
            ["trig", "TriG"], ["nq", "N-Quads"]],
  };
  const downloads = document.querySelector("#downloads span");

  function showDownloads() {
    const yasqe = yasgui.getTab().getYasqe();
    const form = (yasqe.getQueryType() || "SELECT").toUpperCase();
    const list = form === "CONSTRUCT" || form === "DESCRIBE" ? formats.graph : formats.results;
    const query = yasqe.getValue();
    downloads.replaceChildren(...list.map(([format, label]) => {
      const link = document.createElement("a");
      link.href = config.endpoint + "?" + new URLSearchParams({ query: query, format: format });
      link.download = "results." + format;
      link.textContent = label;
      link.dataset.format = format;
      return link;
    }).flatMap((link, i) => (i ? [document.createTextNode(" · "), link] : [link])));
  }

  function watch(tab) {
    tab.getYasqe().on("change", showDownloads);
  }

  for (const button of document.querySelectorAll("#examples button")) {
    button.addEventListener("click", () => {
      const example = config.examples[button.dataset.example];
      const tab = yasgui.addTab(true, { name: example.title, yasqe: { value: example.text } });
      tab.show();
      tab.getYasqe().setValue(example.text);
      watch(tab);
      showDownloads();
    });
  }
  yasgui.on("tabSelect", (_, id) => setTimeout(() => { watch(yasgui.getTab(id)); showDownloads(); }));
  watch(yasgui.getTab());
  showDownloads();
})();
