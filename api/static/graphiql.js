// GraphiQL for the driver API, from local assets only. Queries and mutations over HTTP,
// subscriptions over graphql-transport-ws on the same path. Sign in with the
// requestSignInCode / signIn mutations and put {"Authorization": "Bearer <accessToken>"}
// in the Headers tab (it is kept in this browser's storage).
(function () {
  const url = new URL(window.location.href);
  url.search = "";
  url.hash = "";
  const http = url.toString();
  const ws = http.replace(/^http/, "ws");
  const fetcher = GraphiQL.createFetcher({ url: http, subscriptionUrl: ws });
  const explorer = GraphiQLPluginExplorer.explorerPlugin();
  const root = ReactDOM.createRoot(document.getElementById("graphiql"));
  root.render(
    React.createElement(GraphiQL, {
      fetcher: fetcher,
      plugins: [explorer],
      defaultEditorToolsVisibility: true,
      isHeadersEditorEnabled: true,
      shouldPersistHeaders: true,
      defaultQuery:
        "# Chargers near Hurum\n{ chargersNear(lat: 59.65, lon: 10.43, radiusKm: 20) {\n" +
        "  edges { node { code site { name } connectors { evseId status } } } } }\n",
    }),
  );
})();
